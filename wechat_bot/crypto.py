"""Callback signatures and the safe-mode AES envelope, exactly as WeChat defines them.

Our own small implementation over `cryptography` rather than wechatpy's: it is on the hot path
(every message in safe mode), it must never raise anything but `CryptoError` on hostile input,
and it lets us reuse one key schedule per process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes (PKCS#7 with a 32-byte block), not AES's 16


class RandomPool:
    """Bytes from os.urandom, fetched 4 KB at a time: two small getrandom() calls per message
    (envelope prefix, reply nonce) cost more than the rest of the encryption on a busy host."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self.reset()

    def reset(self) -> None:
        self._buf = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            self._buf, self._pos = os.urandom(max(self._chunk, n)), 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out


RANDOM = RandomPool()
os.register_at_fork(after_in_child=RANDOM.reset)  # a forked child must not reuse our bytes


class CryptoError(ValueError):
    """The envelope is not one WeChat made for us (bad base64, padding, length or app id)."""


def sign(*parts: str) -> str:
    """sha1 of the lexicographically sorted concatenation (signature and msg_signature)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def signature_ok(expected: str, *parts: str) -> bool:
    return hmac.compare_digest(sign(*parts).encode(), expected.encode("utf-8", "replace"))


class Envelope:
    """AES-256-CBC with IV = first 16 key bytes; plaintext = 16 random + len + body + appid."""

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey is not valid base64") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))
        self.app_id = app_id
        self._app_id_bytes = app_id.encode()

    def decrypt(self, encrypted: str | bytes) -> bytes:
        """The message body inside `Encrypt`; CryptoError when it is not for this app."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("Encrypt has a bad length")
        dec = self._cipher.decryptor()
        plain = dec.update(raw) + dec.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
            raise CryptoError("bad padding")
        content = plain[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CryptoError("bad length")
        body, app_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(app_id, self._app_id_bytes):
            raise CryptoError("message is for another app id")
        return body

    def encrypt(self, body: bytes, random16: bytes | None = None) -> str:
        payload = (random16 or RANDOM.take(16)) + struct.pack(">I", len(body)) + body + self._app_id_bytes
        pad = BLOCK - len(payload) % BLOCK
        payload += bytes((pad,)) * pad
        enc = self._cipher.encryptor()
        return base64.b64encode(enc.update(payload) + enc.finalize()).decode()
