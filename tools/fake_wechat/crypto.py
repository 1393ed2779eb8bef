"""WeChat's message signing and AES encryption, written from the spec with `cryptography`.

Deliberately independent of wechatpy: the service uses wechatpy, and the simulator uses this,
so each checks the other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(ValueError):
    pass


def sha1_signature(*parts: str) -> str:
    """sha1 of the sorted concatenation: `signature` (token, timestamp, nonce) and `msg_signature`
    (token, timestamp, nonce, Encrypt)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def pkcs7_pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad PKCS#7 padding")
    return data[:-n]


class MessageCrypto:
    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise CryptoError("EncodingAESKey must be 43 characters")
        self.key = base64.b64decode(encoding_aes_key + "=")
        if len(self.key) != 32:
            raise CryptoError("EncodingAESKey does not decode to 32 bytes")
        self.token = token
        self.app_id = app_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: bytes, random_prefix: bytes | None = None) -> str:
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise CryptoError("random prefix must be 16 bytes")
        plain = prefix + struct.pack(">I", len(message)) + message + self.app_id.encode()
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(pkcs7_pad(plain)) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        """The message bytes; CryptoError if it cannot be decrypted or names another appid."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except ValueError as exc:
            raise CryptoError(f"bad base64: {exc}") from None
        if not data or len(data) % 16:
            raise CryptoError("ciphertext is not a whole number of AES blocks")
        dec = self._cipher().decryptor()
        plain = pkcs7_unpad(dec.update(data) + dec.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, app_id = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length:
            raise CryptoError("length field exceeds plaintext")
        if app_id.decode(errors="replace") != self.app_id:
            raise CryptoError(f"appid mismatch: {app_id.decode(errors='replace')!r}")
        return message

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sha1_signature(self.token, timestamp, nonce, encrypted)
