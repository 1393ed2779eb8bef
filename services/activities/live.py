"""Sign-up state in Redis: the live, authoritative record of capacity, waitlists and each sign-up.

MongoDB (services.activities.signups_store) holds the durable copy, written in batches by the flusher; Redis persistence
(AOF) covers the gap. Decisions are Lua scripts (services.activities.signup_lua), one round trip each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from core.redis_pipe import RedisPipe, RedisReplyError
from services.activities import signup_lua
from storage.batching import ScriptBatcher
from storage.ratelimit import Limit, window_keys

# Anti-brushing, checked inside the sign-up script (no extra round trip): sign-up requests per user.
RATE_LIMIT, RATE_WINDOW = 30, 60
DIRTY = "mp:su:dirty"
NOTIFY = "mp:su:notify"

# Sign-up hash fields that hold integers (milliseconds or counters); everything else is text.
INT_FIELDS = ("seq", "v", "fv", "created_at", "updated_at", "remind_at", "promoted_at", "cancelled_at", "checked_in_at")


def prefix(activity_id: str) -> str:
    return f"mp:act:{{{activity_id}}}:"


def split_id(signup_id: str) -> tuple[str, str]:
    """`<activity>-<seq>` -> (activity, seq)."""
    aid, _, seq = signup_id.rpartition("-")
    return aid, seq


def hash_key(signup_id: str) -> str:
    aid, seq = split_id(signup_id)
    return f"{prefix(aid)}su:{seq}"


def decode(raw: dict[str, str]) -> dict[str, Any]:
    """A sign-up hash as a dict: integer fields as ints (absent or empty -> None), the form parsed."""
    out: dict[str, Any] = dict(raw)
    for key in INT_FIELDS:
        value = raw.get(key)
        out[key] = int(value) if value not in (None, "") else None
    out["form"] = json.loads(raw["form"]) if raw.get("form") else {}
    return out


@dataclass(frozen=True)
class Decision:
    outcome: str  # confirmed, waitlisted, dup, limit, full, wlfull, nostate, nosession, ...
    values: tuple[str, ...]


class SignupState:
    def __init__(self, redis: aioredis.Redis, pipe: RedisPipe) -> None:
        self.redis = redis
        self._pipe = pipe
        self._sign_up = ScriptBatcher(pipe, signup_lua.SIGN_UP)  # the hot path: concurrent calls share a trip
        self._cancel = redis.register_script(signup_lua.CANCEL)
        self._check_in = redis.register_script(signup_lua.CHECK_IN)
        self._configure = redis.register_script(signup_lua.CONFIGURE)
        self._ack = redis.register_script(signup_lua.ACK)
        self._unlock = redis.register_script(signup_lua.UNLOCK)

    @staticmethod
    def _decision(raw: Any) -> Decision:
        items = [str(x) for x in raw]
        return Decision(items[0], tuple(items[1:]))

    async def sign_up(
        self, aid: str, sid: str, openid: str, now_ms: int, form: dict[str, Any], remind_at_ms: int | None,
        member_id: str, org: str, unionid: str,
    ) -> Decision:  # fmt: skip
        rl_keys, weight = window_keys("signup", [Limit("user", openid, RATE_LIMIT)], RATE_WINDOW, now_ms / 1000)
        args: list[Any] = [prefix(aid), aid, sid, openid, now_ms, json.dumps(form, ensure_ascii=False)]
        args += ["" if remind_at_ms is None else remind_at_ms, member_id, org, unionid, f"{weight:.4f}", RATE_LIMIT]
        return self._decision(await self._sign_up(keys=[prefix(aid) + "meta", *rl_keys], args=args))

    async def cancel(self, signup_id: str, openid: str, now_ms: int) -> Decision:
        aid, seq = split_id(signup_id)
        return self._decision(
            await self._cancel(keys=[prefix(aid) + "meta"], args=[prefix(aid), aid, seq, openid, now_ms])
        )

    async def check_in(self, signup_id: str, openid: str, now_ms: int, via: str) -> Decision:
        aid, seq = split_id(signup_id)
        args: list[Any] = [prefix(aid), aid, seq, openid, now_ms, via]
        return self._decision(await self._check_in(keys=[prefix(aid) + "meta"], args=args))

    async def configure(self, aid: str, meta: dict[str, Any], now_ms: int) -> Decision:
        """Apply changed capacities / waitlist rules to live state, promoting into new places in order."""
        args: list[Any] = [prefix(aid), now_ms, meta["exp"], meta["per_user"], meta["wl"], meta["wl_limit"]]
        for sid, cap in meta["caps"].items():
            args += [sid, cap]
        return self._decision(await self._configure(keys=[prefix(aid) + "meta"], args=args))

    # --- reads ------------------------------------------------------------------------------------
    async def has_state(self, aid: str) -> bool:
        return bool(await self.redis.exists(prefix(aid) + "meta"))

    async def get(self, signup_id: str) -> dict[str, Any] | None:
        raw = cast(dict[str, str], await self.redis.hgetall(hash_key(signup_id)))
        return decode(raw) if raw else None

    async def get_many(self, signup_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Many sign-ups in one round trip on the pipelined connection (the flusher reads 1,000 at a time:
        hiredis parses the replies in C instead of redis-py's per-command Python)."""
        if not signup_ids:
            return {}
        replies = await self._pipe.execute_many([("HGETALL", hash_key(sid)) for sid in signup_ids])
        found: dict[str, dict[str, Any]] = {}
        for sid, reply in zip(signup_ids, replies, strict=True):
            if isinstance(reply, RedisReplyError):
                raise reply
            if reply:  # RESP2: a flat [field, value, ...] list
                fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))
                found[sid] = decode(fields)
        return found

    async def user_active(self, aid: str, openid: str) -> dict[str, str]:
        """session id -> sign-up id of the user's active sign-ups in the activity."""
        raw = cast(dict[str, str], await self.redis.hgetall(f"{prefix(aid)}u:{openid}"))
        return {sid: f"{aid}-{seq}" for sid, seq in raw.items()}

    async def recent(self, openid: str) -> list[str]:
        return cast(list[str], await self.redis.lrange(f"mp:u:{openid}:recent", 0, -1))

    async def session_numbers(self, aid: str, session_ids: list[str]) -> dict[str, tuple[int, int]]:
        """session id -> (confirmed, waitlisted)."""
        p = prefix(aid)
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in session_ids:
                pipe.get(f"{p}n:{sid}")
                pipe.zcard(f"{p}w:{sid}")
            rows = await pipe.execute()
        return {sid: (int(rows[2 * i] or 0), int(rows[2 * i + 1])) for i, sid in enumerate(session_ids)}

    async def session_checkins(self, aid: str, session_ids: list[str]) -> dict[str, int]:
        """session id -> sign-ups checked in (counted by the check-in script)."""
        p = prefix(aid)
        values = await self.redis.mget([f"{p}ci:{sid}" for sid in session_ids]) if session_ids else []
        return {sid: int(v or 0) for sid, v in zip(session_ids, values, strict=True)}

    async def waitlist_position(self, signup_id: str, session_id: str) -> int:
        aid, _ = split_id(signup_id)
        rank = await self.redis.zrank(f"{prefix(aid)}w:{session_id}", signup_id)
        return int(cast(int, rank)) + 1 if rank is not None else 0

    # --- flushing ---------------------------------------------------------------------------------
    async def dirty_batch(self, limit: int) -> list[str]:
        return cast(list[str], await self.redis.zrange(DIRTY, 0, limit - 1))

    async def dirty_of(self, aid: str) -> list[str]:
        return [m async for m, _ in self.redis.zscan_iter(DIRTY, match=f"{aid}-*", count=1000)]

    async def dirty_count(self) -> int:
        return int(await self.redis.zcard(DIRTY))

    async def ack(self, written: list[tuple[str, int]]) -> int:
        """Forget flushed sign-ups whose version did not change meanwhile; returns how many."""
        args: list[Any] = []
        for signup_id, version in written:
            args += [signup_id, hash_key(signup_id), version]
        return int(await self._ack(keys=[DIRTY], args=args)) if args else 0

    # --- rebuilding -------------------------------------------------------------------------------
    async def install(self, aid: str, meta: dict[str, Any], signups: list[dict[str, Any]], max_seq: int) -> None:
        """Write an activity's whole state (from MongoDB); `meta` goes last, so scripts see all or nothing."""
        p, exp = prefix(aid), meta["exp"]
        stale = [f"{p}meta", f"{p}seq"] + [f"{p}{k}:{sid}" for sid in meta["caps"] for k in ("n", "w", "ci")]
        stale += list({f"{p}u:{s['uid']}" for s in signups}) + [f"{p}su:{s['seq']}" for s in signups]
        counts: dict[str, int] = {sid: 0 for sid in meta["caps"]}
        checked_in: dict[str, int] = {sid: 0 for sid in meta["caps"]}
        for i in range(0, len(stale), 1000):
            await self.redis.delete(*stale[i : i + 1000])
        for i in range(0, len(signups), 500):
            async with self.redis.pipeline(transaction=False) as pipe:
                for s in signups[i : i + 500]:
                    key = f"{p}su:{s['seq']}"
                    fields: dict[str, Any] = {k: ("" if v is None else v) for k, v in s.items()}
                    fields["form"] = json.dumps(s.get("form") or {}, ensure_ascii=False)
                    pipe.hset(key, mapping=cast(Any, fields))  # redis-py's Mapping key type is invariant
                    pipe.expireat(key, exp)
                    if s["status"] in ("confirmed", "waitlisted"):
                        pipe.hset(f"{p}u:{s['uid']}", s["sid"], s["seq"])
                        pipe.expireat(f"{p}u:{s['uid']}", exp)
                    if s["status"] == "waitlisted":
                        pipe.zadd(f"{p}w:{s['sid']}", {s["id"]: s["seq"]})
                    elif s["status"] == "confirmed":
                        counts[s["sid"]] = counts.get(s["sid"], 0) + 1
                        if s.get("checked_in_at"):
                            checked_in[s["sid"]] = checked_in.get(s["sid"], 0) + 1
                await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:
            for sid, n in counts.items():
                pipe.set(f"{p}n:{sid}", n)
                pipe.expireat(f"{p}n:{sid}", exp)
                pipe.set(f"{p}ci:{sid}", checked_in.get(sid, 0))
                pipe.expireat(f"{p}ci:{sid}", exp)
                pipe.expireat(f"{p}w:{sid}", exp)
            pipe.set(f"{p}seq", max_seq)
            pipe.expireat(f"{p}seq", exp)
            head: dict[str, Any] = {"exp": exp, "per_user": meta["per_user"], "wl": meta["wl"]}
            head |= {"wl_limit": meta["wl_limit"]} | {f"cap:{sid}": cap for sid, cap in meta["caps"].items()}
            pipe.hset(f"{p}meta", mapping=cast(Any, head))
            pipe.expireat(f"{p}meta", exp)
            await pipe.execute()

    async def lock(self, name: str, token: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(f"mp:lock:{name}", token, nx=True, px=ttl_ms))

    async def unlock(self, name: str, token: str) -> None:
        """Release only our own lock (it may have expired and been taken by another instance)."""
        await self._unlock(keys=[f"mp:lock:{name}"], args=[token])
