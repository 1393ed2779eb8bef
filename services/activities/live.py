"""Sign-up state in Redis: the live, authoritative record of capacity, waitlists and each sign-up.

MongoDB (services.activities.signups_store) holds the durable copy, written in batches by the flusher; Redis persistence
(AOF) covers the gap. Decisions are Lua scripts (services.activities.signup_lua, which describes the key layout),
one round trip each, every key in KEYS and in the activity's partition slot.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from core.redis_pipe import RedisPipe, RedisReplyError
from services.activities import signup_lua
from storage.batching import ScriptBatcher
from storage.keys import all_shard_tags, entity_shard_tag
from storage.ratelimit import Limit, window_keys

SPACE = "act"
# Anti-brushing, checked inside the sign-up script (no extra round trip): sign-up requests per user.
RATE_LIMIT, RATE_WINDOW = 30, 60
FENCE_TTL_MS = 30_000  # a send in flight counts this long at most (its instance may die mid-send)
TAGS = all_shard_tags(SPACE)

# Sign-up fields that hold integers (milliseconds or counters); everything else is text.
INT_FIELDS = ("seq", "v", "fv", "created_at", "updated_at", "remind_at", "promoted_at", "cancelled_at", "checked_in_at")


def tag_of(activity_id: str) -> str:
    return entity_shard_tag(SPACE, activity_id)


def prefix(activity_id: str) -> str:
    return f"mp:act:{tag_of(activity_id)}:{activity_id}:"


def dirty_key(tag: str) -> str:
    return f"mp:su:dirty:{tag}"


def notify_key(tag: str) -> str:
    return f"mp:su:notify:{tag}"


def recent_key(tag: str, openid: str) -> str:
    return f"mp:su:recent:{tag}:{openid}"


def split_id(signup_id: str) -> tuple[str, str]:
    """`<activity>-<seq>` -> (activity, seq)."""
    aid, _, seq = signup_id.rpartition("-")
    return aid, seq


def decode(raw: dict[str, str]) -> dict[str, Any]:
    """A stored sign-up as a dict: integer fields as ints (absent or empty -> None), the form parsed."""
    out: dict[str, Any] = dict(raw)
    for key in INT_FIELDS:
        value = raw.get(key)
        out[key] = int(value) if value not in (None, "") else None
    out["form"] = json.loads(raw["form"]) if raw.get("form") else {}
    return out


def encode(s: dict[str, Any]) -> str:
    """A sign-up (from MongoDB) as the scripts store it: every value a string ('' for none)."""
    fields = {k: ("" if v is None else str(v)) for k, v in s.items() if k != "form"}
    fields["form"] = json.dumps(s.get("form") or {}, ensure_ascii=False)
    return json.dumps(fields, ensure_ascii=False)


def gate_value(status: str, opens_ms: int | None, deadline_ms: int, rev: int) -> str:
    return f"{status}\t{'' if opens_ms is None else opens_ms}\t{deadline_ms}\t{rev}"


@dataclass(frozen=True)
class Decision:
    outcome: str  # confirmed, waitlisted, dup, limit, full, wlfull, gate, early, deadline, nostate, nosession, ...
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
        self._set_gate = redis.register_script(signup_lua.SET_GATE)
        self._send_begin = ScriptBatcher(pipe, signup_lua.SEND_BEGIN)
        self._send_end = ScriptBatcher(pipe, signup_lua.SEND_END)
        self._unlock = redis.register_script(signup_lua.UNLOCK)

    @staticmethod
    def _decision(raw: Any) -> Decision:
        items = [str(x) for x in raw]
        return Decision(items[0], tuple(items[1:]))

    async def sign_up(
        self, aid: str, sid: str, openid: str, now_ms: int, form: dict[str, Any], remind_at_ms: int | None,
        member_id: str, org: str, unionid: str,
    ) -> Decision:  # fmt: skip
        tag = tag_of(aid)
        p = f"mp:act:{tag}:{aid}:"
        rl_keys, weight = window_keys(
            f"signup:{aid}", [Limit("user", openid, RATE_LIMIT)], RATE_WINDOW, now_ms / 1000, tag=tag
        )
        keys = [p + "meta", p + "gate", p + "seq", f"{p}n:{sid}", f"{p}w:{sid}", f"{p}u:{openid}", p + "su",
                dirty_key(tag), notify_key(tag), recent_key(tag, openid), *rl_keys]  # fmt: skip
        args: list[Any] = [aid, sid, openid, now_ms, json.dumps(form, ensure_ascii=False)]
        args += ["" if remind_at_ms is None else remind_at_ms, member_id, org, unionid, f"{weight:.4f}", RATE_LIMIT]
        return self._decision(await self._sign_up(keys=keys, args=args))

    async def cancel(self, signup_id: str, session_id: str, openid: str, now_ms: int) -> Decision:
        aid, seq = split_id(signup_id)
        tag, p = tag_of(aid), prefix(aid)
        keys = [p + "meta", p + "su", f"{p}u:{openid}", f"{p}n:{session_id}", f"{p}w:{session_id}", dirty_key(tag),
                notify_key(tag)]  # fmt: skip
        return self._decision(await self._cancel(keys=keys, args=[aid, seq, openid, now_ms, session_id]))

    async def check_in(self, signup_id: str, session_id: str, openid: str, now_ms: int, via: str) -> Decision:
        aid, seq = split_id(signup_id)
        p = prefix(aid)
        keys = [p + "meta", p + "gate", p + "su", f"{p}ci:{session_id}", dirty_key(tag_of(aid))]
        args: list[Any] = [aid, seq, openid, now_ms, via, session_id]
        return self._decision(await self._check_in(keys=keys, args=args))

    async def configure(self, aid: str, meta: dict[str, Any], now_ms: int) -> Decision:
        """Apply changed capacities / waitlist rules to live state, promoting into new places in order."""
        tag, p = tag_of(aid), prefix(aid)
        keys = [p + "meta", p + "su", dirty_key(tag), notify_key(tag)]
        args: list[Any] = [now_ms, meta["exp"], meta["per_user"], meta["wl"], meta["wl_limit"]]
        for sid, cap in meta["caps"].items():
            keys += [f"{p}n:{sid}", f"{p}w:{sid}"]
            args += [sid, cap]
        return self._decision(await self._configure(keys=keys, args=args))

    async def set_gate(self, aid: str, value: str, expire_at: int) -> bool:
        """Whether sign-ups are open, as the scripts see it; an older revision never wins over a newer one."""
        return bool(await self._set_gate(keys=[prefix(aid) + "gate"], args=[value, expire_at]))

    async def gate_status(self, aid: str) -> str | None:
        raw = await self.redis.get(prefix(aid) + "gate")
        return str(raw).partition("\t")[0] if raw else None

    async def send_begin(self, aid: str) -> bool:
        """May a message about this activity go out now? True counts it in flight until `send_end`."""
        p = prefix(aid)
        return bool(await self._send_begin(keys=[p + "gate", p + "fence"], args=[FENCE_TTL_MS]))

    async def send_end(self, aid: str) -> None:
        await self._send_end(keys=[prefix(aid) + "fence"], args=[])

    async def sends_in_flight(self, aid: str) -> int:
        return int(await self.redis.get(prefix(aid) + "fence") or 0)

    # --- reads ------------------------------------------------------------------------------------
    async def has_state(self, aid: str) -> bool:
        p = prefix(aid)
        return int(await self.redis.exists(p + "meta", p + "gate")) == 2

    async def get(self, signup_id: str) -> dict[str, Any] | None:
        aid, seq = split_id(signup_id)
        raw = await self.redis.hget(prefix(aid) + "su", seq)
        return decode(json.loads(raw)) if raw else None

    async def get_many(self, signup_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Many sign-ups in one round trip on the pipelined connection, one HMGET per activity (the flusher
        reads 1,000 at a time: hiredis parses the replies in C instead of redis-py's per-command Python)."""
        if not signup_ids:
            return {}
        by_activity: dict[str, list[str]] = defaultdict(list)
        for sid in signup_ids:
            by_activity[split_id(sid)[0]].append(sid)
        groups = list(by_activity.items())
        commands = [("HMGET", prefix(aid) + "su", *(split_id(i)[1] for i in ids)) for aid, ids in groups]
        replies = await self._pipe.execute_many(commands)
        found: dict[str, dict[str, Any]] = {}
        for (_, ids), reply in zip(groups, replies, strict=True):
            if isinstance(reply, RedisReplyError):
                raise reply
            for sid, raw in zip(ids, reply, strict=True):
                if raw:
                    found[sid] = decode(json.loads(raw))
        return found

    async def user_active(self, aid: str, openid: str) -> dict[str, str]:
        """session id -> sign-up id of the user's active sign-ups in the activity."""
        raw = cast(dict[str, str], await self.redis.hgetall(f"{prefix(aid)}u:{openid}"))
        return {sid: f"{aid}-{seq}" for sid, seq in raw.items()}

    async def recent(self, openid: str) -> list[str]:
        """The user's latest sign-up ids over every partition (one round trip), newest first per partition."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in TAGS:
                pipe.lrange(recent_key(tag, openid), 0, -1)
            lists = await pipe.execute()
        return [str(i) for ids in lists for i in ids]

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
    async def dirty_counts(self) -> dict[str, int]:
        """Partition tag -> sign-ups waiting for MongoDB, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in TAGS:
                pipe.zcard(dirty_key(tag))
            counts = await pipe.execute()
        return {tag: int(n) for tag, n in zip(TAGS, counts, strict=True)}

    async def dirty_count(self) -> int:
        return sum((await self.dirty_counts()).values())

    async def dirty_batch(self, tag: str, limit: int) -> list[str]:
        return cast(list[str], await self.redis.zrange(dirty_key(tag), 0, limit - 1))

    async def dirty_of(self, aid: str) -> list[str]:
        key = dirty_key(tag_of(aid))
        return [m async for m, _ in self.redis.zscan_iter(key, match=f"{aid}-*", count=1000)]

    async def ack(self, tag: str, written: list[tuple[str, int]]) -> int:
        """Forget flushed sign-ups (all of partition `tag`) whose version did not change meanwhile."""
        if not written:
            return 0
        keys = [dirty_key(tag)]
        index: dict[str, int] = {}
        args: list[Any] = []
        for signup_id, version in written:
            aid = split_id(signup_id)[0]
            if aid not in index:
                keys.append(prefix(aid) + "su")
                index[aid] = len(keys)
            args += [signup_id, index[aid], version]
        return int(await self._ack(keys=keys, args=args))

    # --- rebuilding -------------------------------------------------------------------------------
    async def install(self, aid: str, meta: dict[str, Any], signups: list[dict[str, Any]], max_seq: int) -> None:
        """Write an activity's whole state (from MongoDB); `meta` goes last, so scripts see all or nothing.
        The gate is written apart (`set_gate`, revision-guarded): an editor's newer change must survive."""
        p, exp = prefix(aid), meta["exp"]
        stale = [f"{p}meta", f"{p}seq", f"{p}su"] + [f"{p}{k}:{sid}" for sid in meta["caps"] for k in ("n", "w", "ci")]
        stale += list({f"{p}u:{s['uid']}" for s in signups})
        counts: dict[str, int] = {sid: 0 for sid in meta["caps"]}
        checked_in: dict[str, int] = {sid: 0 for sid in meta["caps"]}
        for i in range(0, len(stale), 1000):
            await self.redis.delete(*stale[i : i + 1000])
        for i in range(0, len(signups), 500):
            async with self.redis.pipeline(transaction=False) as pipe:
                chunk = signups[i : i + 500]
                pipe.hset(f"{p}su", mapping={str(s["seq"]): encode(s) for s in chunk})
                for s in chunk:
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
            pipe.expireat(f"{p}su", exp)
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
