"""access_token issuing and checking, with WeChat's grace period and stable_token rules.

`cgi-bin/token` and `cgi-bin/stable_token` keep separate token chains: WeChat documents them
as "completely isolated", so fetching one never invalidates the other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .errors import WeChatError

NORMAL, STABLE = "token", "stable"


@dataclass(slots=True)
class TokenInfo:
    appid: str
    kind: str
    issued: float
    expires: float
    revoked_at: float | None = None  # from this moment on the token answers 40001


class TokenStore:
    def __init__(self) -> None:
        self.tokens: dict[str, TokenInfo] = {}
        self.current: dict[tuple[str, str], str] = {}
        self._serial = 0

    def issue(self, appid: str, kind: str, now: float, ttl: float, grace: float) -> str:
        """A new token; the previous one of the same chain stays valid for `grace` seconds."""
        self._prune(now)
        previous = self.current.get((appid, kind))
        if previous is not None:
            info = self.tokens[previous]
            end = now + grace
            if info.revoked_at is None or info.revoked_at > end:
                info.revoked_at = end
        self._serial += 1
        token = f"{self._serial}_{secrets.token_urlsafe(96)}"
        self.tokens[token] = TokenInfo(appid, kind, now, now + ttl)
        self.current[(appid, kind)] = token
        return token

    def current_valid(self, appid: str, kind: str, now: float) -> TokenInfo | None:
        token = self.current.get((appid, kind))
        info = self.tokens.get(token) if token else None
        if info is None or now >= info.expires or (info.revoked_at is not None and now >= info.revoked_at):
            return None
        return info

    def current_token(self, appid: str, kind: str) -> str | None:
        return self.current.get((appid, kind))

    def check(self, token: str, now: float) -> str:
        """The token's appid, or WeChatError 40001 (unknown/replaced) / 42001 (expired)."""
        info = self.tokens.get(token)
        if info is None:
            raise WeChatError(40001)
        revoked = info.revoked_at is not None and now >= info.revoked_at
        if revoked and (info.revoked_at or 0) < info.expires:
            raise WeChatError(40001)
        if now >= info.expires:
            raise WeChatError(42001)
        return info.appid

    def appid_of(self, token: str | None) -> str | None:
        info = self.tokens.get(token) if token else None
        return info.appid if info else None

    def expire(self, now: float, appid: str | None = None) -> int:
        n = 0
        for info in self.tokens.values():
            if (appid is None or info.appid == appid) and info.expires > now:
                info.expires = now
                n += 1
        return n

    def revoke(self, now: float, appid: str | None = None) -> int:
        n = 0
        for info in self.tokens.values():
            if (appid is None or info.appid == appid) and (info.revoked_at is None or info.revoked_at > now):
                info.revoked_at = now
                n += 1
        return n

    def summary(self, now: float) -> dict[str, object]:
        live = sum(1 for i in self.tokens.values() if now < i.expires and (i.revoked_at is None or now < i.revoked_at))
        return {"issued": self._serial, "live": live, "known": len(self.tokens)}

    def _prune(self, now: float) -> None:
        # A revoked token and an unknown one both answer 40001, so forgetting revoked ones is
        # invisible to clients and keeps memory bounded when a client fetches tokens in a loop.
        if self._serial % 1024 or len(self.tokens) < 1024:
            return
        dead = [t for t, i in self.tokens.items() if i.revoked_at is not None and i.revoked_at <= now]
        for t in dead:
            del self.tokens[t]
