"""Mini-program login sessions in Redis: opaque tokens, sliding expiry, revocable one by one or all at once.

Keys (all `mp:`), every key of one user under the user's hash tag `{mpu:<h>}` (h = the first 16 hex
digits of sha256(openid)), so the scripts that touch a user's sessions run on one Redis Cluster slot:
- `mp:sess:{mpu:<h>}:<sha256(token)>` hash: openid, unionid, member_id, org, org_path (comma-joined),
  abs (absolute expiry, epoch seconds). Only the token's hash is a key, so a leaked Redis dump holds no
  usable token. The user's profile lives in the session itself: authenticating a request is one round trip.
- `mp:usess:{mpu:<h>}:<openid>` zset of the user's session ids (scored by creation), to revoke them all
  or update them after binding.
- `mp:skey:{mpu:<h>}:<openid>` the latest WeChat session_key: kept server-side only, never sent to a client.

A token is `<h>.<random>`: the request's one lookup finds the session's slot from the token alone.
(Tokens of the previous layout, without `<h>.`, are no longer known: the mini-program logs in again
silently with wx.login, as after any expired session.) The scripts that touch every session of a user
get those keys in KEYS from a ZRANGE just before and refuse (the caller reads again) when the set
changed in between: no key name is built inside Lua.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.redis_pipe import RedisPipe
from storage.batching import ScriptBatcher
from storage.keys import entity_tag

SLIDING_SECONDS = 7 * 86400  # idle sessions end after a week
ABSOLUTE_SECONDS = 30 * 86400  # every session ends after 30 days, however active
MAX_SESSIONS_PER_USER = 10  # phones, tablets, WeChat on PC: the oldest beyond this are dropped
RETRIES = 8  # a user's session set changed between our read and the script: read again

PROFILE_FIELDS = ("openid", "unionid", "member_id", "org", "org_path")


@dataclass(frozen=True)
class SessionData:
    openid: str
    unionid: str
    member_id: str
    org: str
    org_path: tuple[str, ...]


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_hash(openid: str) -> str:
    return hashlib.sha256(openid.encode()).hexdigest()[:16]


def _tag(uhash: str) -> str:
    return entity_tag("mpu", uhash)


def session_key(token: str) -> str:
    """The session's key for a token ('' for a token that is not ours)."""
    uhash, dot, _ = token.partition(".")
    if not dot or len(uhash) != 16:
        return ""
    return f"mp:sess:{_tag(uhash)}:{session_id(token)}"


def _skey(openid: str, sid: str) -> str:
    return f"mp:sess:{_tag(user_hash(openid))}:{sid}"


def user_sessions_key(openid: str) -> str:
    return f"mp:usess:{_tag(user_hash(openid))}:{openid}"


def wechat_session_key_key(openid: str) -> str:
    return f"mp:skey:{_tag(user_hash(openid))}:{openid}"


# Lua: the user's session ids (ZRANGE of KEYS[zi]) must be exactly those whose keys the caller passed
# from KEYS[first] on, in that order; false when the set changed since the caller read it.
_SAME_SET = """
local function same_set(zi, first)
  local all = redis.call('ZRANGE', KEYS[zi], 0, -1)
  if #all ~= #KEYS - first + 1 then return false end
  for i, sid in ipairs(all) do
    local key = KEYS[first + i - 1]
    if string.sub(key, -#sid) ~= sid then return false end
  end
  return true
end
"""

# Create a session, drop the user's dead session ids, and evict the oldest beyond the cap.
# KEYS: session, user set, session_key key, then the user's current sessions (ZRANGE order).
# ARGV: ttl, abs, session_key, max, created (µs), sid, then field/value pairs. Returns 0 when the set changed.
_CREATE = (
    _SAME_SET
    + """
if not same_set(2, 4) then return 0 end
local ttl = tonumber(ARGV[1])
local live = {}
for i = 4, #KEYS do
  local sid = string.sub(KEYS[i], -64)
  if redis.call('EXISTS', KEYS[i]) == 1 then live[#live + 1] = i else redis.call('ZREM', KEYS[2], sid) end
end
local extra = #live + 1 - tonumber(ARGV[4])
for j = 1, extra do
  redis.call('DEL', KEYS[live[j]])
  redis.call('ZREM', KEYS[2], string.sub(KEYS[live[j]], -64))
end
redis.call('HSET', KEYS[1], 'abs', ARGV[2], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[1], ttl)
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl) end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
redis.call('EXPIRE', KEYS[2], ttl + 86400 * 30)
return 1
"""
)

# Update the profile in every live session of a user (after binding); never resurrect an expired one.
# KEYS: user set, then the user's sessions. Returns {ok (0 = the set changed), sessions updated}.
_UPDATE = (
    _SAME_SET
    + """
if not same_set(1, 2) then return {0, 0} end
local n = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], unpack(ARGV))
    n = n + 1
  end
end
return {1, n}
"""
)

# The session's fields, its idle expiry extended: one command on the hot path of every request.
_RESOLVE = """
local data = redis.call('HGETALL', KEYS[1])
if #data > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return data
"""

# KEYS: user set, session_key key, then the user's sessions. Returns {ok, sessions that were live}.
_REVOKE_ALL = (
    _SAME_SET
    + """
if not same_set(1, 3) then return {0, 0} end
local n = 0
for i = 3, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[1], KEYS[2])
return {1, n}
"""
)


class SessionsChanging(RuntimeError):
    """A user's session set kept changing under us (never seen outside a test that forces it)."""


class SessionStore:
    def __init__(self, redis: aioredis.Redis, pipe: RedisPipe) -> None:
        self.redis = redis
        self._create = redis.register_script(_CREATE)
        self._update = redis.register_script(_UPDATE)
        self._revoke_all = redis.register_script(_REVOKE_ALL)
        self._resolve = ScriptBatcher(pipe, _RESOLVE)  # every request runs it: batched under load

    async def _session_keys(self, openid: str) -> list[str]:
        return [_skey(openid, str(sid)) for sid in await self.redis.zrange(user_sessions_key(openid), 0, -1)]

    async def create(self, profile: SessionData, session_key: str) -> str:
        token = f"{user_hash(profile.openid)}.{secrets.token_urlsafe(32)}"
        sid = session_id(token)
        absolute = int(time.time()) + ABSOLUTE_SECONDS
        for _ in range(RETRIES):
            args: list[str | int] = [SLIDING_SECONDS, absolute, session_key, MAX_SESSIONS_PER_USER]
            args += [time.time_ns() // 1000, sid, *_profile_args(profile)]
            keys = [
                _skey(profile.openid, sid),
                user_sessions_key(profile.openid),
                wechat_session_key_key(profile.openid),
            ]
            if await self._create(keys=keys + await self._session_keys(profile.openid), args=args):
                return token
        raise SessionsChanging(profile.openid)

    async def resolve(self, token: str) -> SessionData | None:
        """The session's profile, extending its idle expiry; None when unknown, expired or revoked."""
        key = session_key(token)
        if not key:
            return None
        flat = await self._resolve(keys=[key], args=[SLIDING_SECONDS])
        data = dict(zip(flat[::2], flat[1::2], strict=True))
        if "openid" not in data:
            return None
        if int(data.get("abs", 0)) < time.time():
            await self.redis.delete(key)
            return None
        path = data.get("org_path", "")
        return SessionData(
            openid=data["openid"],
            unionid=data.get("unionid", ""),
            member_id=data.get("member_id", ""),
            org=data.get("org", ""),
            org_path=tuple(path.split(",")) if path else (),
        )

    async def update_profile(self, profile: SessionData) -> int:
        for _ in range(RETRIES):
            keys = [user_sessions_key(profile.openid), *await self._session_keys(profile.openid)]
            ok, n = await self._update(keys=keys, args=_profile_args(profile))
            if ok:
                return int(n)
        raise SessionsChanging(profile.openid)

    async def revoke(self, token: str) -> bool:
        key = session_key(token)
        if not key:
            return False
        openid = await self.redis.hget(key, "openid")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if openid:
                pipe.zrem(user_sessions_key(str(openid)), session_id(token))
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def revoke_all(self, openid: str) -> int:
        """End every session of a user (a stolen phone, an editor's unbind); returns how many were live."""
        for _ in range(RETRIES):
            keys = [user_sessions_key(openid), wechat_session_key_key(openid), *await self._session_keys(openid)]
            ok, n = await self._revoke_all(keys=keys, args=[])
            if ok:
                return int(n)
        raise SessionsChanging(openid)

    async def session_key(self, openid: str) -> str | None:
        """For server-side decryption of wx.getPhoneNumber-style payloads; never leaves the server."""
        value = await self.redis.get(wechat_session_key_key(openid))
        return str(value) if value else None


def _profile_args(p: SessionData) -> list[str | int]:
    return [
        "openid", p.openid, "unionid", p.unionid, "member_id", p.member_id,
        "org", p.org, "org_path", ",".join(p.org_path),
    ]  # fmt: skip
