"""A coupon batch's live state in Redis (the only module that knows these keys) and its scripts.

Redis Cluster: the grab script appends to the grants stream, so the stream is cut into `SHARDS`
partitions and a batch's keys carry its partition's tag T = `entity_shard_tag("cpn", B)`
(storage/keys.py): the batch's keys and its partition's stream share one slot. Keys for batch B:
- `cpn:T:B:meta` hash: status (open|closed), org, waves "start-end;..." (ms), buckets "c1,c2,..." (direct
  sub-orgs), opened / closed (wave bookkeeping, maintained by the scripts).
- `cpn:T:B:alloc` hash: "<wave>:<bucket>" and "<wave>:_pool" -> that wave's allotment (written at creation).
- `cpn:T:B:stock` hash: bucket -> coupons left in it this wave, `_pool` -> the common pool, `got:<bucket>` /
  `got:_pool` -> granted from it, `_granted`, `_revoked`.
- `cpn:T:B:served` hash: member number -> "<state>\\t<bucket>\\t<wave>", state p (risk check pending),
  g (granted), h (held for review), u (risk unknown), x (revoked after review). One per member, whatever the account.
- `cpn:T:B:idem:<member>:<key>`: an Idempotency-Key already answered (15 minutes).
- `cpn:grants:T` stream (one per partition): every grant (`g`), risk verdict (`v`) and stock move (`r`)
  of its batches, in decision order, until the flusher has stored it in MongoDB (journaled); then it
  is deleted. A batch's entries are all in one partition, so their order is kept.

Before the partitions, batch B's keys were `cpn:B:*` and the stream `cpn:grants`: the flusher drains
that stream until it is empty, and a batch found only under the old names is moved (`adopt_legacy`)
before anything would rebuild it from MongoDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from core.redis_pipe import RedisPipe
from services.coupons import lua
from storage.batching import ScriptBatcher
from storage.key_moves import move_keys
from storage.keys import all_shard_tags, entity_shard_tag

SPACE = "cpn"
LEGACY_STREAM = "cpn:grants"
Entries = list[tuple[str, dict[str, str]]]


_DEL_IF_EMPTY = "if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end return 0"


def _k(batch_id: str, part: str) -> str:
    return f"cpn:{entity_shard_tag(SPACE, batch_id)}:{batch_id}:{part}"


def stream_of(batch_id: str) -> str:
    return f"cpn:grants:{entity_shard_tag(SPACE, batch_id)}"


def streams() -> list[str]:
    """Every grants stream the flusher empties: the partitions, then the pre-partition one."""
    return [f"cpn:grants:{tag}" for tag in all_shard_tags(SPACE)] + [LEGACY_STREAM]


@dataclass(frozen=True)
class GrabAnswer:
    outcome: str  # ok, replay, nometa, closed, audience, served, early, ended, soldout
    detail: list[str]


@dataclass(frozen=True)
class Served:
    state: str  # p, g, h, u, x (revoked by an editor)
    bucket: str
    wave: int


def parse_served(raw: str) -> Served | None:
    if not raw:
        return None
    state, bucket, wave = (raw.split("\t") + ["", "0"])[:3]
    return Served(state, bucket, int(wave or 0))


class CouponLive:
    def __init__(self, redis: aioredis.Redis, pipe: RedisPipe) -> None:
        self.redis = redis
        self._grab = ScriptBatcher(pipe, lua.GRAB)
        self._tick = ScriptBatcher(pipe, lua.TICK)
        self._verdict = ScriptBatcher(pipe, lua.VERDICT)
        self._give_back = ScriptBatcher(pipe, lua.GIVE_BACK)
        self._restate = ScriptBatcher(pipe, lua.RESTATE)

    async def grab(
        self, batch_id: str, member_id: str, *, now_ms: int, org_path: tuple[str, ...], openid: str, org: str,
        idempotency_key: str = "",
    ) -> GrabAnswer:  # fmt: skip
        keys = [
            _k(batch_id, "meta"),
            _k(batch_id, "alloc"),
            _k(batch_id, "stock"),
            _k(batch_id, "served"),
            stream_of(batch_id),
        ]
        if idempotency_key:
            keys.append(_k(batch_id, f"idem:{member_id}:{idempotency_key}"))
        path = "," + ",".join(org_path) + ","
        answer = await self._grab(keys=keys, args=[batch_id, member_id, now_ms, path, openid, org])
        return GrabAnswer(str(answer[0]), [str(x) for x in answer[1:]])

    async def tick(self, batch_id: str, now_ms: int) -> None:
        keys = [_k(batch_id, "meta"), _k(batch_id, "alloc"), _k(batch_id, "stock"), stream_of(batch_id)]
        await self._tick(keys=keys, args=[batch_id, now_ms])

    async def verdict(self, batch_id: str, member_id: str, state: str, rank: int, reason: str) -> bool:
        keys = [_k(batch_id, "served"), stream_of(batch_id)]
        return bool(await self._verdict(keys=keys, args=[batch_id, member_id, state, rank, reason]))

    async def restate(self, batch_id: str, member_id: str, state: str) -> None:
        await self._restate(keys=[_k(batch_id, "served")], args=[member_id, state])

    async def give_back(self, batch_id: str) -> None:
        await self._give_back(keys=[_k(batch_id, "stock")], args=[])

    async def install(
        self, batch_id: str, *, org: str, waves: list[tuple[int, int]], buckets: list[str], alloc: dict[str, int],
        expire_at: int,
    ) -> None:  # fmt: skip
        """A new batch's rules and allotments (status open); never touches stock already there."""
        meta = {
            "status": "open",
            "org": org,
            "waves": ";".join(f"{s}-{e}" for s, e in waves),
            "buckets": ",".join(buckets),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_k(batch_id, "meta"), mapping={k: v for k, v in meta.items()})
            pipe.hset(_k(batch_id, "alloc"), mapping={str(k): str(v) for k, v in alloc.items()})
            pipe.hsetnx(_k(batch_id, "stock"), "_pool", 0)
            for part in ("meta", "alloc", "stock", "served"):
                pipe.expireat(_k(batch_id, part), expire_at)
            await pipe.execute()

    async def restore(
        self, batch_id: str, *, org: str, status: str, waves: list[tuple[int, int]], buckets: list[str],
        alloc: dict[str, int], expire_at: int, opened: int, closed: int, stock: dict[str, int], served: dict[str, str],
        chunk: int = 5_000,
    ) -> None:  # fmt: skip
        """Replace a batch's live state with one rebuilt from MongoDB; the meta hash (what grabs check
        first) is written last, so no grab runs on half-restored state."""
        await self.redis.delete(*(_k(batch_id, part) for part in ("meta", "alloc", "stock", "served")))
        items = list(served.items())
        for start in range(0, len(items), chunk):
            await self.redis.hset(_k(batch_id, "served"), mapping=dict(items[start : start + chunk]))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_k(batch_id, "alloc"), mapping={str(k): str(v) for k, v in alloc.items()})
            pipe.hset(_k(batch_id, "stock"), mapping={str(k): str(v) for k, v in stock.items()})
            meta = {"status": status, "org": org, "waves": ";".join(f"{s}-{e}" for s, e in waves),
                    "buckets": ",".join(buckets), "opened": str(opened), "closed": str(closed)}  # fmt: skip
            pipe.hset(_k(batch_id, "meta"), mapping={k: v for k, v in meta.items()})
            for part in ("meta", "alloc", "stock", "served"):
                pipe.expireat(_k(batch_id, part), expire_at)
            await pipe.execute()

    async def adopt_legacy(self, batch_id: str) -> bool:
        """Move a batch the previous release kept under `cpn:B:*` to its partition's names (meta last:
        grabs check it first, so none runs on a half-moved batch); True when there was one."""
        parts = ("alloc", "stock", "served", "meta")
        return bool(await move_keys(self.redis, [(f"cpn:{batch_id}:{part}", _k(batch_id, part)) for part in parts]))

    async def lock_rebuild(self, batch_id: str, owner: str, ttl_ms: int = 30_000) -> bool:
        return bool(await self.redis.set(_k(batch_id, "rebuild"), owner, nx=True, px=ttl_ms))

    async def unlock_rebuild(self, batch_id: str, owner: str) -> None:
        if await self.redis.get(_k(batch_id, "rebuild")) == owner:
            await self.redis.delete(_k(batch_id, "rebuild"))

    async def set_status(self, batch_id: str, status: str) -> None:
        await self.redis.hset(_k(batch_id, "meta"), "status", status)

    async def status(self, batch_id: str) -> str:
        return str(await self.redis.hget(_k(batch_id, "meta"), "status") or "")

    async def stock(self, batch_id: str) -> dict[str, int]:
        raw = cast(dict[str, str], await self.redis.hgetall(_k(batch_id, "stock")))
        return {k: int(v) for k, v in raw.items()}

    async def served(self, batch_id: str, member_id: str) -> Served | None:
        return parse_served(str(await self.redis.hget(_k(batch_id, "served"), member_id) or ""))

    async def served_count(self, batch_id: str) -> int:
        return int(await self.redis.hlen(_k(batch_id, "served")))

    async def wave_state(self, batch_id: str) -> tuple[int, int]:
        opened, closed = await self.redis.hmget(_k(batch_id, "meta"), ["opened", "closed"])
        return int(opened or 0), int(closed or 0)

    # --- the streams, for the flusher ----------------------------------------------------------
    async def read_pending(self, stream: str, count: int, block_ms: int | None = None) -> Entries:
        if block_ms is None:
            return cast(Entries, await self.redis.xrange(stream, "-", "+", count=count))
        answer: Any = await self.redis.xread({stream: "0-0"}, count=count, block=block_ms)
        return cast(Entries, list(answer[0][1])) if answer else []

    async def trim(self, stream: str, entry_ids: list[str]) -> None:
        if entry_ids:
            await self.redis.xdel(stream, *entry_ids)

    async def forget_if_empty(self, stream: str) -> None:
        """Delete a drained stream (an empty stream key stays otherwise): for the pre-partition one."""
        await self.redis.eval(_DEL_IF_EMPTY, 1, stream)

    async def pending(self) -> int:
        """Entries not yet in MongoDB, over every stream."""
        pipe = self.redis.pipeline(transaction=False)
        for stream in streams():
            pipe.xlen(stream)
        return sum(int(n) for n in await pipe.execute())

    async def pending_of(self, batch_id: str, count: int) -> Entries:
        """The entries still waiting in the batch's partition (and the old stream, until drained)."""
        own = await self.read_pending(stream_of(batch_id), count)
        return own + await self.read_pending(LEGACY_STREAM, count)
