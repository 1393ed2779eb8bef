"""Mini-program login sessions in Redis: opaque tokens, sliding expiry, revocable one by one or all at once.

Keys (all `mp:`):
- `mp:sess:<sha256(token)>` hash: openid, unionid, member_id, org, org_path (comma-joined), abs (absolute
  expiry, epoch seconds). Only the token's hash is a key, so a leaked Redis dump holds no usable token.
  The user's profile lives in the session itself so that authenticating a request is one round trip.
- `mp:usess:<openid>` set of the user's session ids, to revoke them all or update them after binding.
- `mp:skey:<openid>` the latest WeChat session_key: kept server-side only, never sent to a client.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.redis_pipe import RedisPipe
from storage.batching import ScriptBatcher

SLIDING_SECONDS = 7 * 86400  # idle sessions end after a week
ABSOLUTE_SECONDS = 30 * 86400  # every session ends after 30 days, however active
MAX_SESSIONS_PER_USER = 10  # phones, tablets, WeChat on PC: the oldest beyond this are dropped

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


def _skey(sid: str) -> str:
    return f"mp:sess:{sid}"


def _ukey(openid: str) -> str:
    return f"mp:usess:{openid}"


# Create a session, drop the user's dead session ids, and evict the oldest beyond the cap.
# KEYS: session, user set, session_key key. ARGV: ttl, abs, session_key, max, created (µs), then field/value pairs.
_CREATE = """
local ttl = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'abs', ARGV[2], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ttl)
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl) end
local sid = string.sub(KEYS[1], 9)
redis.call('ZADD', KEYS[2], ARGV[5], sid)
local all = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, other in ipairs(all) do
  if redis.call('EXISTS', 'mp:sess:' .. other) == 0 then redis.call('ZREM', KEYS[2], other) end
end
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  for _, other in ipairs(old) do
    redis.call('DEL', 'mp:sess:' .. other)
    redis.call('ZREM', KEYS[2], other)
  end
end
redis.call('EXPIRE', KEYS[2], ttl + 86400 * 30)
return 1
"""

# Update the profile in every live session of a user (after binding); never resurrect an expired one.
_UPDATE = """
local n = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = 'mp:sess:' .. sid
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, unpack(ARGV))
    n = n + 1
  end
end
return n
"""

# The session's fields, its idle expiry extended: one command on the hot path of every request.
_RESOLVE = """
local data = redis.call('HGETALL', KEYS[1])
if #data > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return data
"""

_REVOKE_ALL = """
local n = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + redis.call('DEL', 'mp:sess:' .. sid)
end
redis.call('DEL', KEYS[1], KEYS[2])
return n
"""


class SessionStore:
    def __init__(self, redis: aioredis.Redis, pipe: RedisPipe) -> None:
        self.redis = redis
        self._create = redis.register_script(_CREATE)
        self._update = redis.register_script(_UPDATE)
        self._revoke_all = redis.register_script(_REVOKE_ALL)
        self._resolve = ScriptBatcher(pipe, _RESOLVE)  # every request runs it: batched under load

    async def create(self, profile: SessionData, session_key: str) -> str:
        token = secrets.token_urlsafe(32)
        sid = session_id(token)
        absolute = int(time.time()) + ABSOLUTE_SECONDS
        args: list[str | int] = [SLIDING_SECONDS, absolute, session_key, MAX_SESSIONS_PER_USER, time.time_ns() // 1000]
        args += _profile_args(profile)
        await self._create(keys=[_skey(sid), _ukey(profile.openid), f"mp:skey:{profile.openid}"], args=args)
        return token

    async def resolve(self, token: str) -> SessionData | None:
        """The session's profile, extending its idle expiry; None when unknown, expired or revoked."""
        key = _skey(session_id(token))
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
        return int(await self._update(keys=[_ukey(profile.openid)], args=_profile_args(profile)))

    async def revoke(self, token: str) -> bool:
        sid = session_id(token)
        openid = await self.redis.hget(_skey(sid), "openid")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(_skey(sid))
            if openid:
                pipe.zrem(_ukey(str(openid)), sid)
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def revoke_all(self, openid: str) -> int:
        """End every session of a user (a stolen phone, an editor's unbind); returns how many were live."""
        return int(await self._revoke_all(keys=[_ukey(openid), f"mp:skey:{openid}"]))

    async def session_key(self, openid: str) -> str | None:
        """For server-side decryption of wx.getPhoneNumber-style payloads; never leaves the server."""
        value = await self.redis.get(f"mp:skey:{openid}")
        return str(value) if value else None


def _profile_args(p: SessionData) -> list[str | int]:
    return [
        "openid", p.openid, "unionid", p.unionid, "member_id", p.member_id,
        "org", p.org, "org_path", ",".join(p.org_path),
    ]  # fmt: skip
