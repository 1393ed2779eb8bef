"""Base handlers of the mini-program API: bearer-token sessions, rate limits, schema-checked bodies.

- `MpHandler` requires `Authorization: Bearer <token>`; `prepare()` resolves it into `self.user`
  (a `CurrentUser`) with one Redis round trip, or answers 401.
- `PublicMpHandler` serves without a session (login, org pickers, the OpenAPI document).
- `await self.rate_limit(name, per_user=..., per_ip=..., window=...)` answers 429 with a Chinese message.
- `self.body("SchemaName")` parses the JSON body and checks it against the module's published schema.

Every handler declares `openapi` (its OpenAPI path item) next to its code; see miniprogram_api/openapi.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any, ClassVar

from core.deps import Slot
from core.errors import ServiceError, TooMany, Unauthorized
from core.outage import is_storage_fault, is_unavailable
from handlers.base import JsonHandler, implemented_methods
from miniprogram_api import validation
from services.members import sessions
from services.members.sessions import CurrentUser
from storage.ratelimit import Limit, RateLimiter

RATE_LIMITER = Slot[RateLimiter]("mp.ratelimiter")

SESSION_EXPIRED = "登录已过期，请重新登录"


def with_headers(err: ServiceError, headers: dict[str, str]) -> ServiceError:
    err.headers = headers  # type: ignore[attr-defined]
    return err


class PublicMpHandler(JsonHandler):
    """A mini-program API handler that needs no session."""

    openapi: ClassVar[dict[str, Any]] = {}
    user: CurrentUser | None = None

    def body(self, schema_name: str) -> dict[str, Any]:
        """The JSON body, checked against `schemas[schema_name]` of this handler's module (400 otherwise)."""
        data = self.json_body()
        module_schemas: dict[str, dict[str, Any]] = getattr(sys.modules[type(self).__module__], "schemas", {})
        validation.validate(data, module_schemas[schema_name], module_schemas)
        return data

    async def rate_limit(
        self, name: str, *, per_user: int = 0, per_ip: int = 0, window: int = 60, message: str = ""
    ) -> None:
        """Refuse with 429 when this user or this IP made too many `name` requests in the last `window` s.

        Limits per IP should stay generous: a factory's Wi-Fi puts hundreds of workers behind one address.
        """
        limiter = self.deps.get_or_make(RATE_LIMITER, lambda: RateLimiter(self.deps.redis_pipe))
        openid = self.user.openid if self.user else ""
        verdict = await limiter.check(
            name, [Limit("user", openid, per_user), Limit("ip", self.client_ip(), per_ip)], window
        )
        if not verdict.allowed:
            err = TooMany(message or f"操作太频繁，请 {verdict.retry_after} 秒后再试", code="rate_limited")
            raise with_headers(err, {"Retry-After": str(verdict.retry_after)})

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # send_error() cleared the headers set before the raise; errors carry theirs to survive that.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if is_unavailable(exc) or is_storage_fault(exc):
            # Redis or MongoDB unreachable or failing: nothing the user did wrong, and nothing was half-done
            # (every write is one atomic step), so "try again" is true and actionable.
            self.set_status(503)
            self.set_header("Retry-After", "5")
            self.finish(json.dumps({"code": "unavailable", "message": "服务繁忙，请稍后重试"}, ensure_ascii=False))
            return
        for name, value in getattr(exc, "headers", {}).items():
            self.set_header(name, value)
        if status_code == 405:
            self.set_header("Allow", ", ".join(m.upper() for m in implemented_methods(type(self))))
        super().write_error(status_code, **kwargs)


class MpHandler(PublicMpHandler):
    """A mini-program API handler for a logged-in user: `self.user` is set before any method runs."""

    user: CurrentUser

    async def prepare(self) -> None:
        super().prepare()
        token = self.bearer_token()
        user = await sessions.authenticate(self.deps, token) if token else None
        if user is None:
            err = Unauthorized(SESSION_EXPIRED if token else "请先登录", code="unauthorized")
            raise with_headers(err, {"WWW-Authenticate": 'Bearer realm="mp"'})
        self.user = user

    def bearer_token(self) -> str:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 128:
            return ""
        return token
