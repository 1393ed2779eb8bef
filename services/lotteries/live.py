"""The Redis side of lotteries: every decision that must be atomic is one Lua script here.

Apply-then-draw, per lottery `lot:{<id>}:*` (one hash slot):
  meta  hash {state, until}: `until` = entry deadline (ms); the script refuses entries once it passed
  m     hash member -> 抽签码 (one entry per roster member)
  c     hash 抽签码 -> member (codes unique)
  p     set of members decided here but not yet confirmed written to MongoDB (normally empty at close)
Closing flips `state` in the same place the entry script reads it, so no entry slips in after the
freeze. No `meta` means Redis lost the lottery: `rebuild_entries` reloads it from MongoDB (meta last).

Instant win: every play is appended to a stream for the write-behind (instant.flush_plays), so for
Redis Cluster the stream is cut into partitions and a lottery's instant-win keys carry its partition's
tag T = `entity_shard_tag("lot", <id>)`: `lot:T:<id>:iw` (table and counters), `lot:T:<id>:plays`
(member[:day] -> outcome) and the partition's stream `lot:plays:T` share one slot. The previous
release's `lot:{<id>}:iw` / `:plays` are moved on first use (`adopt_legacy`, before any rebuild from
MongoDB) and its one `lot:plays` stream is drained until it is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.deps import Deps, Slot
from storage.batching import ScriptBatcher
from storage.key_moves import move_keys
from storage.keys import all_shard_tags, entity_shard_tag

SCRIPTS = Slot[dict[str, ScriptBatcher]]("lotteries.scripts")

LEGACY_PLAYS_STREAM = "lot:plays"

_ENTER = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'lost'} end
local have = redis.call('HGET', KEYS[2], ARGV[1])
if have then return {'dup', have} end
if state ~= 'open' or tonumber(ARGV[3]) >= tonumber(redis.call('HGET', KEYS[1], 'until')) then return {'closed'} end
if redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[1]) == 0 then return {'collision'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
return {'ok', ARGV[2]}
"""

_CLOSE = """
if not redis.call('HGET', KEYS[1], 'state') then return -1 end
redis.call('HSET', KEYS[1], 'state', 'closed')
return redis.call('HLEN', KEYS[2])
"""

# Instant win. ARGV: member key (member or member:day), member, now ms, r in [0, 1e6), day.
# Stock released by time: of a tier's stock s, ceil(s * k / slices) is out after k of `slices` equal
# parts of [start, end) began. A tier drawn but out of (released) stock falls to the fallback prize;
# a fallback with stock -1 is unlimited; nothing left at all = no prize (outcome -1).
_PLAY = """
local t = KEYS[1]
if redis.call('EXISTS', t) == 0 then return {'lost'} end
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev then return {'dup', prev} end
local now = tonumber(ARGV[3])
local start, stop = tonumber(redis.call('HGET', t, 'start')), tonumber(redis.call('HGET', t, 'end'))
if now < start then return {'early'} end
if now >= stop or redis.call('HGET', t, 'state') ~= 'open' then return {'ended'} end
local slices = tonumber(redis.call('HGET', t, 'slices'))
local part = math.min(slices, math.floor((now - start) * slices / (stop - start)) + 1)
local n, r, cum, outcome = tonumber(redis.call('HGET', t, 'n')), tonumber(ARGV[4]), 0, -1
for i = 1, n do
  cum = cum + tonumber(redis.call('HGET', t, 'p' .. i))
  if r < cum then
    local stock = tonumber(redis.call('HGET', t, 's' .. i))
    local released = math.ceil(stock * part / slices)
    if tonumber(redis.call('HGET', t, 'g' .. i)) < released then outcome = i end
    break
  end
end
if outcome == -1 then
  local fs = tonumber(redis.call('HGET', t, 's0'))
  if fs < 0 or tonumber(redis.call('HGET', t, 'g0')) < fs then outcome = 0 end
end
if outcome >= 0 then redis.call('HINCRBY', t, 'g' .. outcome, 1) end
redis.call('HSET', KEYS[2], ARGV[1], outcome)
redis.call('XADD', KEYS[3], '*', 'lot', ARGV[6], 'key', ARGV[1], 'member', ARGV[2], 'outcome', outcome,
  'day', ARGV[5], 'at', ARGV[3])
return {'ok', tostring(outcome)}
"""


def _k(lottery_id: str, part: str) -> str:
    return f"lot:{{{lottery_id}}}:{part}"


def _iw(lottery_id: str, part: str) -> str:
    """An instant-win key: in the lottery's partition, with its partition's plays stream."""
    return f"lot:{entity_shard_tag('lot', lottery_id)}:{lottery_id}:{part}"


def plays_stream(lottery_id: str) -> str:
    return f"lot:plays:{entity_shard_tag('lot', lottery_id)}"


def plays_streams() -> list[str]:
    """Every plays stream the write-behind empties: the partitions, then the pre-partition one."""
    return [f"lot:plays:{tag}" for tag in all_shard_tags("lot")] + [LEGACY_PLAYS_STREAM]


@dataclass(frozen=True)
class Decision:
    verdict: str  # ok | dup | closed | collision | lost | early | ended
    value: str = ""


def _batcher(deps: Deps, name: str, source: str) -> ScriptBatcher:
    scripts: dict[str, ScriptBatcher] = deps.get_or_make(SCRIPTS, dict)
    if name not in scripts:
        scripts[name] = ScriptBatcher(deps.redis_pipe, source)
    return scripts[name]


def _decision(raw: Any) -> Decision:
    items = [x.decode() if isinstance(x, bytes) else str(x) for x in raw]
    return Decision(items[0], items[1] if len(items) > 1 else "")


async def enter(deps: Deps, lottery_id: str, member_id: str, code: str, now_ms: int) -> Decision:
    keys = [_k(lottery_id, "meta"), _k(lottery_id, "m"), _k(lottery_id, "c"), _k(lottery_id, "p")]
    return _decision(await _batcher(deps, "enter", _ENTER)(keys, [member_id, code, now_ms]))


async def written(deps: Deps, lottery_id: str, member_id: str) -> None:
    """The entry is journaled in MongoDB: the close need not check it."""
    await deps.redis_pipe.execute("SREM", _k(lottery_id, "p"), member_id)


async def unwritten(deps: Deps, lottery_id: str) -> list[str]:
    return [str(m) for m in await deps.redis.smembers(_k(lottery_id, "p"))]


async def forget_unwritten(deps: Deps, lottery_id: str, members: Sequence[str]) -> None:
    if members:
        await deps.redis.srem(_k(lottery_id, "p"), *members)


async def close(deps: Deps, lottery_id: str) -> int:
    """Stop entries; the number of entries Redis holds, or -1 when it lost the lottery."""
    return int(await deps.redis.eval(_CLOSE, 2, _k(lottery_id, "meta"), _k(lottery_id, "m")))


async def set_state(deps: Deps, lottery_id: str, state: str) -> None:
    await deps.redis.hset(_k(lottery_id, "meta"), "state", state)


async def rebuild_entries(
    deps: Deps, lottery_id: str, state: str, until_ms: int, members: Sequence[tuple[str, str]]
) -> None:
    """Reload a lottery's entries; `meta` goes last so that no entry is decided on a half-filled hash."""
    for start in range(0, len(members), 5_000):
        chunk = members[start : start + 5_000]
        pipe = deps.redis.pipeline(transaction=False)
        pipe.hset(_k(lottery_id, "m"), mapping=dict(chunk))
        pipe.hset(_k(lottery_id, "c"), mapping={code: member for member, code in chunk})
        await pipe.execute()
    await deps.redis.hset(_k(lottery_id, "meta"), mapping={"state": state, "until": until_ms})


async def all_entries(deps: Deps, lottery_id: str) -> dict[str, str]:
    """member -> code, as Redis decided them (the frozen set once closed)."""
    out: dict[str, str] = {}
    async for member, code in deps.redis.hscan_iter(_k(lottery_id, "m"), count=5_000):
        out[str(member)] = str(code)
    return out


async def closed_codes(deps: Deps, lottery_id: str) -> list[str] | None:
    """The codes Redis froze at close (unsorted), or None when Redis does not hold a closed lottery."""
    if await deps.redis.hget(_k(lottery_id, "meta"), "state") != "closed":
        return None
    # HSCAN in slices (never one long blocking HKEYS); NOVALUES needs Redis 7.4, so the members come along.
    return [str(c) async for c, _ in deps.redis.hscan_iter(_k(lottery_id, "c"), count=10_000)]


# --- instant win ---


@dataclass(frozen=True)
class Table:
    state: str
    start_ms: int
    end_ms: int
    slices: int
    ppm: Sequence[int]  # probability of each tier in parts per million (tiers 1..n)
    stock: Sequence[int]  # stock of each tier
    fallback_stock: int  # -1 unlimited, 0 none
    given: Sequence[int]  # already given: [fallback, tier 1 .. n]


async def load_table(deps: Deps, lottery_id: str, t: Table) -> None:
    mapping: dict[Any, Any] = {
        "state": t.state, "start": t.start_ms, "end": t.end_ms, "slices": t.slices, "n": len(t.ppm),
        "s0": t.fallback_stock, "g0": t.given[0],
    }  # fmt: skip
    for i, (p, s) in enumerate(zip(t.ppm, t.stock, strict=True), start=1):
        mapping |= {f"p{i}": p, f"s{i}": s, f"g{i}": t.given[i]}
    await deps.redis.hset(_iw(lottery_id, "iw"), mapping=mapping)


async def set_table_state(deps: Deps, lottery_id: str, state: str) -> None:
    key = _iw(lottery_id, "iw")
    if await deps.redis.exists(key):
        await deps.redis.hset(key, "state", state)


async def restore_plays(deps: Deps, lottery_id: str, plays: dict[str, int]) -> None:
    if plays:
        mapping: dict[Any, Any] = plays
        await deps.redis.hset(_iw(lottery_id, "plays"), mapping=mapping)


async def play(deps: Deps, lottery_id: str, play_key: str, member_id: str, now_ms: int, r: int, day: str) -> Decision:
    keys = [_iw(lottery_id, "iw"), _iw(lottery_id, "plays"), plays_stream(lottery_id)]
    return _decision(await _batcher(deps, "play", _PLAY)(keys, [play_key, member_id, now_ms, r, day, lottery_id]))


async def given(deps: Deps, lottery_id: str) -> dict[str, int]:
    raw: dict[Any, Any] = await deps.redis.hgetall(_iw(lottery_id, "iw"))
    return {str(k): int(v) for k, v in raw.items() if str(k).startswith("g")}


async def adopt_legacy(deps: Deps, lottery_id: str) -> bool:
    """Move an instant-win lottery the previous release kept under `lot:{<id>}:*` (table last: plays
    are decided on it); True when there was one."""
    pairs = [(_k(lottery_id, part), _iw(lottery_id, part)) for part in ("plays", "iw")]
    return bool(await move_keys(deps.redis, pairs))


async def read_plays(deps: Deps, stream: str, count: int) -> list[tuple[str, dict[str, str]]]:
    rows: list[Any] = await deps.redis.xrange(stream, count=count) or []
    return [(str(i), {str(k): str(v) for k, v in fields.items()}) for i, fields in rows]


_DEL_IF_EMPTY = "if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end return 0"


async def ack_plays(deps: Deps, stream: str, ids: Sequence[str]) -> None:
    if ids:
        await deps.redis.xdel(stream, *ids)
    if stream == LEGACY_PLAYS_STREAM:  # drained: delete the empty key, later turns find none
        await deps.redis.eval(_DEL_IF_EMPTY, 1, stream)
