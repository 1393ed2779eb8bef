"""Console sessions and login throttling in Redis (all keys `console:`).

An editor's keys share the hash tag `{cu:<h>}` (h = the first 16 hex digits of sha256(username)), so the
transaction that creates a session and the multi-key deletes run on one Redis Cluster slot:
- `console:sess:{cu:<h>}:<sha256(token)>` hash: u (username), csrf, org (working org), abs (absolute
  expiry, epoch seconds), ip, created. Only the token's hash is a key: a Redis dump holds no usable cookie.
  Sliding expiry (`IDLE_SECONDS`), capped by `abs`. Deleting the key logs the browser out at once.
  The token is `<h>.<random>`, so a request finds its session's slot from the cookie alone (cookies of
  the previous layout are no longer known: the editor logs in once more).
- `console:usess:{cu:<h>}:<username>` zset of the user's session ids, to revoke them all (disable,
  password change).
- Login throttling, all under one tag `{console:login}` (its script weighs the account's and the IP's
  counters together, and console logins are few: one slot carries them easily):
  `console:{console:login}:fail:u:<username>`, `...:fail:ip:<ip>` failed-login counters over a window;
  `...:lock:u:<username>`, `...:lock:ip:<ip>` the locks they set (TTL = lock time).

An attempt is counted *before* the password is checked (one Lua call decides), so a burst of
concurrent guesses cannot slip past the limit while the slow argon2 checks run.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from storage.keys import entity_tag

IDLE_SECONDS = 4 * 3600  # an idle console session ends after four hours
ABSOLUTE_SECONDS = 12 * 3600  # and every session after twelve, however active
MAX_SESSIONS_PER_USER = 20


@dataclass(frozen=True)
class Limits:
    window: int = 15 * 60  # failures are counted over this many seconds
    per_user: int = 5  # failures per account before it is locked
    per_ip: int = 30  # failures per IP (generous: an office is one NAT address)
    lock_seconds: int = 15 * 60


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


THROTTLE_TAG = entity_tag("console", "login")


def _user_hash(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:16]


def _skey(username: str, sid: str) -> str:
    return f"console:sess:{entity_tag('cu', _user_hash(username))}:{sid}"


def _ukey(username: str) -> str:
    return f"console:usess:{entity_tag('cu', _user_hash(username))}:{username}"


def session_key(token: str) -> str:
    """The session's key for a cookie's token ('' for a token that is not ours)."""
    uhash, dot, _ = token.partition(".")
    if not dot or len(uhash) != 16:
        return ""
    return f"console:sess:{entity_tag('cu', uhash)}:{session_id(token)}"


async def create(redis: aioredis.Redis, username: str, org: str, ip: str) -> tuple[str, str]:
    """A new session; returns (token for the cookie, csrf token)."""
    token, csrf = f"{_user_hash(username)}.{secrets.token_urlsafe(32)}", secrets.token_urlsafe(24)
    sid, at = session_id(token), int(time.time())
    fields = {"u": username, "csrf": csrf, "org": org, "abs": at + ABSOLUTE_SECONDS, "ip": ip, "created": at}
    key = _skey(username, sid)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, IDLE_SECONDS)
        pipe.zadd(_ukey(username), {sid: at})
        pipe.expire(_ukey(username), ABSOLUTE_SECONDS)
        await pipe.execute()
    await _trim(redis, username)
    return token, csrf


async def _trim(redis: aioredis.Redis, username: str) -> None:
    sids = [str(s) for s in await redis.zrange(_ukey(username), 0, -1)]
    alive = [sid for sid in sids if await redis.exists(_skey(username, sid))]
    dead = [sid for sid in sids if sid not in alive]
    extra = alive[:-MAX_SESSIONS_PER_USER] if len(alive) > MAX_SESSIONS_PER_USER else []
    if extra:
        await redis.delete(*(_skey(username, sid) for sid in extra))
    if dead or extra:
        await redis.zrem(_ukey(username), *dead, *extra)


# KEYS: session. ARGV: now, idle. Returns the hash (flat list) after sliding its expiry, or {} when gone.
_TOUCH = """
local abs = tonumber(redis.call('HGET', KEYS[1], 'abs') or '0')
local now = tonumber(ARGV[1])
if abs <= now then
  redis.call('DEL', KEYS[1])
  return {}
end
redis.call('EXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), abs - now))
return redis.call('HGETALL', KEYS[1])
"""


async def load(redis: aioredis.Redis, token: str) -> dict[str, str] | None:
    """The session's fields (sliding its expiry), or None when it ended or never existed."""
    key = session_key(token)
    if not key:
        return None
    flat = await redis.eval(_TOUCH, 1, key, int(time.time()), IDLE_SECONDS)
    if not flat:
        return None
    return dict(zip(flat[::2], flat[1::2], strict=True))


async def set_field(redis: aioredis.Redis, token: str, key: str, value: str) -> None:
    sid = session_key(token)
    if not sid:
        return
    # Only on a live session: never recreate one that was revoked a moment ago.
    await redis.eval(
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end",
        1,
        sid,
        key,
        value,
    )


async def delete(redis: aioredis.Redis, token: str) -> None:
    key = session_key(token)
    if not key:
        return
    username = str(await redis.hget(key, "u") or "")
    await redis.delete(key)
    if username:
        await redis.zrem(_ukey(username), session_id(token))


async def revoke_all(redis: aioredis.Redis, username: str, *, keep_token: str | None = None) -> int:
    """End every session of `username` (but `keep_token`'s, when the user changed their own password)."""
    keep = session_id(keep_token) if keep_token else None
    sids = [str(sid) for sid in await redis.zrange(_ukey(username), 0, -1) if sid != keep]
    if sids:
        await redis.delete(*(_skey(username, s) for s in sids))
        await redis.zrem(_ukey(username), *sids)
    return len(sids)


# --- login throttling ----------------------------------------------------------------------------
# KEYS: user lock, ip lock, user counter, ip counter. ARGV: window, per_user, per_ip, lock.
# Returns {0, user count} when the attempt may proceed, or {ttl ms, 0} when a lock holds.
_BEGIN = """
for i = 1, 2 do
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl > 0 then return {ttl, 0} end
end
local u = redis.call('INCR', KEYS[3])
if u == 1 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
local ip = redis.call('INCR', KEYS[4])
if ip == 1 then redis.call('EXPIRE', KEYS[4], ARGV[1]) end
if u > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[4]); redis.call('DEL', KEYS[3])
  return {tonumber(ARGV[4]) * 1000, 0}
end
if ip > tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[4]); redis.call('DEL', KEYS[4])
  return {tonumber(ARGV[4]) * 1000, 0}
end
return {0, u}
"""

# KEYS: user lock, user counter. ARGV: per_user, lock. After a wrong password: lock at the limit.
_FAILED = """
local u = tonumber(redis.call('GET', KEYS[2]) or '0')
if u >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[2]); redis.call('DEL', KEYS[2])
  return tonumber(ARGV[2]) * 1000
end
return 0
"""


def _throttle_keys(username: str, ip: str) -> list[str]:
    return [
        f"console:{THROTTLE_TAG}:lock:u:{username}",
        f"console:{THROTTLE_TAG}:lock:ip:{ip}",
        f"console:{THROTTLE_TAG}:fail:u:{username}",
        f"console:{THROTTLE_TAG}:fail:ip:{ip}",
    ]


async def begin_attempt(redis: aioredis.Redis, username: str, ip: str, limits: Limits) -> tuple[float, int]:
    """(seconds the caller must wait, 0 = go ahead; failures so far including this attempt)."""
    keys = _throttle_keys(username, ip)
    ttl_ms, used = await redis.eval(
        _BEGIN, 4, *keys, limits.window, limits.per_user, limits.per_ip, limits.lock_seconds
    )
    return int(ttl_ms) / 1000, int(used)


async def attempt_failed(redis: aioredis.Redis, username: str, ip: str, limits: Limits) -> float:
    """Seconds the account is now locked for (0 when it is not)."""
    keys = _throttle_keys(username, ip)
    ttl_ms = await redis.eval(_FAILED, 2, keys[0], keys[2], limits.per_user, limits.lock_seconds)
    return int(ttl_ms) / 1000


async def attempt_succeeded(redis: aioredis.Redis, username: str, ip: str) -> None:
    """A right password clears the account's count and takes this attempt back from the IP's."""
    keys = _throttle_keys(username, ip)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys[2])
        pipe.decr(keys[3])
        await pipe.execute()


async def unlock(redis: aioredis.Redis, username: str) -> None:
    """An admin lifts an account's lock (after resetting its password, say)."""
    keys = _throttle_keys(username, "")
    await redis.delete(keys[0], keys[2])
