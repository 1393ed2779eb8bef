"""What keeps counselling private: a keyed pseudonym for the member and contacts encrypted at rest.

- The booking never stores who the worker is: `pseudonym(member_id)` is an HMAC-SHA256 under a
  key only the service holds, so the one-booking-per-member rule and the monthly cap still work,
  but a database dump alone does not name anybody.
- Contacts (and the mini-program openid a notice is sent to) are sealed with AES-256-GCM; the
  record's id is the associated data, so a ciphertext copied into another record does not open.
  Only the assigned counsellor's views call `open_text`.

Both keys are derived (HKDF-SHA256) from `counselling.secret`, or from `server.cookie_secret` when
that is empty, with different labels, so neither key reveals the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.config import Settings

SEALED_PREFIX = "v1:"


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"sdgh-counselling", info=label).derive(secret)


@dataclass(frozen=True)
class Keys:
    pseudonym_key: bytes
    seal_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        secret = (settings.counselling.secret or settings.server.cookie_secret).encode()
        return cls(_derive(secret, b"pseudonym"), _derive(secret, b"seal"))

    def pseudonym(self, kind: str, value: str) -> str:
        """A stable keyed pseudonym (`kind` keeps members and openids apart)."""
        return hmac.new(self.pseudonym_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, plaintext: str, record_id: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.seal_key).encrypt(nonce, plaintext.encode(), record_id.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()

    def open_text(self, sealed: str, record_id: str) -> str | None:
        """The plaintext, or None when it is missing or does not belong to this record (or key)."""
        if not sealed.startswith(SEALED_PREFIX):
            return None
        try:
            raw = base64.b64decode(sealed[len(SEALED_PREFIX) :])
            return AESGCM(self.seal_key).decrypt(raw[:12], raw[12:], record_id.encode()).decode()
        except (InvalidTag, ValueError):
            return None
