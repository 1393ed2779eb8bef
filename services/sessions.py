"""Login with WeChat (`jscode2session`), our own opaque sessions, and the current user's profile.

The WeChat session_key stays in Redis (services.members.sessions_live); clients only ever hold our random token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.deps import Deps
from core.errors import BadInput, TooMany, Unavailable
from core.wechat import WeChatError, WeChatTransportError
from services.members import users_store as mini_users
from services.members.sessions_live import SLIDING_SECONDS, SessionData, SessionStore

log = logging.getLogger(__name__)

INVALID_CODE = frozenset({40029, 40163, 40226})  # bad code, code used, high-risk user blocked
CODE_MAX_LEN = 128


@dataclass(frozen=True)
class CurrentUser:
    """Who is calling, as the session says: enough to authorize without a database read."""

    openid: str
    unionid: str = ""
    member_id: str = ""
    org: str = ""
    org_path: tuple[str, ...] = ()

    @property
    def is_member(self) -> bool:
        return bool(self.member_id)


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_in: int
    user: CurrentUser
    is_new: bool


def store(deps: Deps) -> SessionStore:
    sessions = deps.extras.get("mp.sessions")
    if sessions is None:
        sessions = deps.extras["mp.sessions"] = SessionStore(deps.redis, deps.redis_pipe)
    return sessions


def _to_user(s: SessionData) -> CurrentUser:
    return CurrentUser(s.openid, s.unionid, s.member_id, s.org, s.org_path)


def _session_data(u: mini_users.MiniUser) -> SessionData:
    return SessionData(u.openid, u.unionid, u.member_id, u.org, u.org_path)


async def _code_to_session(deps: Deps, code: str) -> dict[str, str]:
    try:
        data = await deps.mp.code_to_session(code)
    except WeChatError as exc:
        if exc.errcode in INVALID_CODE:
            raise BadInput("登录凭证无效或已使用，请重新登录", code="invalid_code") from None
        if exc.errcode == 45011:
            raise TooMany("登录请求太频繁，请稍后再试", code="wechat_rate_limited") from None
        log.warning("jscode2session failed: %s", exc)
        raise Unavailable("微信登录服务暂时不可用，请稍后重试", code="wechat_unavailable") from None
    except (WeChatTransportError, TimeoutError) as exc:
        log.warning("jscode2session unreachable: %s", exc)
        raise Unavailable("微信登录服务暂时不可用，请稍后重试", code="wechat_unavailable") from None
    if not data.get("openid") or not data.get("session_key"):
        log.warning("jscode2session answered without openid/session_key")
        raise Unavailable("微信登录服务暂时不可用，请稍后重试", code="wechat_unavailable")
    return {k: str(v) for k, v in data.items() if v is not None}


async def login(deps: Deps, code: str) -> LoginResult:
    code = code.strip()
    if not code or len(code) > CODE_MAX_LEN:
        raise BadInput("登录凭证无效或已使用，请重新登录", code="invalid_code")
    data = await _code_to_session(deps, code)
    openid, unionid = data["openid"], data.get("unionid", "")
    follower_openid = ""
    if unionid:
        follower = await mini_users.follower_by_unionid(deps.db, unionid)
        follower_openid = follower["_id"] if follower else ""
    existing = await mini_users.get(deps.db, openid)
    user = await mini_users.upsert_login(deps.db, openid, unionid, follower_openid)
    if user.member_id and follower_openid:
        await mini_users.share_org_with_follower(deps.db, follower_openid, user.org, list(user.org_path))
    token = await store(deps).create(_session_data(user), data["session_key"])
    return LoginResult(token, SLIDING_SECONDS, _to_user(_session_data(user)), existing is None)


async def authenticate(deps: Deps, token: str) -> CurrentUser | None:
    session = await store(deps).resolve(token)
    return _to_user(session) if session else None


async def logout(deps: Deps, token: str) -> None:
    await store(deps).revoke(token)


async def logout_everywhere(deps: Deps, openid: str) -> int:
    return await store(deps).revoke_all(openid)


async def refresh_profile(deps: Deps, user: mini_users.MiniUser) -> None:
    """Push a changed profile (bound, unbound) into every live session of the user."""
    await store(deps).update_profile(_session_data(user))
