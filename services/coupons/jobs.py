"""Write-behind: grants, risk verdicts and stock moves go from the grants streams into MongoDB.

The stream is partitioned (services/coupons/live.py): each partition has its own lease
(`cpn:flusher:<n>`), so the instances split the partitions between them and each partition is
flushed by one process at a time, in order. The pre-partition stream `cpn:grants` keeps the old
lease name `cpn:flusher` and is drained like a partition until it is empty (one XRANGE per turn).

Like ballots (services/polls/flusher.py): a batch is read from the head of the stream, written
(grants as ledger entitlements under their deterministic ids, journaled; moves under `<batch>:<wave>`),
and only then deleted from the stream. A crash in between replays the batch and writes nothing twice.
Order matters and is kept: a verdict follows its grant in the stream, so it either merges into the
grant's document before the insert (same batch) or updates the stored document afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from core.clock import from_timestamp
from core.deps import Deps, Slot
from core.lease import Lease
from services.benefits import ledger
from services.benefits import store as ledger_store
from services.coupons import reminders, store
from services.coupons.live import LEGACY_STREAM, CouponLive, Entries, streams
from services.editors import audit

log = logging.getLogger(__name__)

BATCH = 500
LEASE_KEY = "cpn:flusher"
LEASE_MS = 5_000
IDLE_BLOCK_MS = 300
RETRY_SECONDS = 1.0
RISK = {"g": "safe", "h": "held", "u": "unknown"}


@dataclass
class _Pass:
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)  # (id, state, reason) for stored grants
    moves: list[list[str]] = field(default_factory=list)


LIVE = Slot[CouponLive]("coupons.live")


def live(deps: Deps) -> CouponLive:
    return deps.get_or_make(LIVE, lambda: CouponLive(deps.redis, deps.redis_pipe))


async def _batch(deps: Deps, cache: dict[str, dict[str, Any]], batch_id: str) -> dict[str, Any]:
    doc = cache.get(batch_id)
    if doc is None:
        doc = await store.get_batch(deps.db, batch_id)
        if doc is None:
            raise RuntimeError(f"coupon batch {batch_id} is missing from MongoDB")
        cache[batch_id] = doc
    return doc


async def _grant_doc(deps: Deps, cache: dict[str, dict[str, Any]], parts: list[str]) -> dict[str, Any]:
    _, eid, batch_id, member, org, path, bucket, wave, at, openid = parts
    b = await _batch(deps, cache, batch_id)
    req = ledger.GrantRequest(
        source=f"cpn:{batch_id}", member_id=member, org=org, org_path=tuple(c for c in path.split(",") if c),
        kind="coupon", title=b["title"], value_cents=int(b.get("value_cents", 0)), vendor_org=b["vendor_org"],
        expires_at=b["expires_at"], note="风险检查中",
    )  # fmt: skip
    doc = ledger.to_doc(req, from_timestamp(int(at) / 1000))
    assert doc["_id"] == eid
    doc.update(bucket=bucket, wave=int(wave), openid=openid, risk="pending")
    return doc


def _apply_verdict(doc: dict[str, Any], state: str, reason: str) -> None:
    doc["risk"] = RISK.get(state, "unknown")
    doc["note"] = reason
    if state == "h" and doc["status"] == "granted":
        doc["status"] = "held"


def lease_key(stream: str) -> str:
    """`cpn:flusher:<n>` for partition n; the old stream keeps the old lease (and its old flusher)."""
    all_streams = streams()
    n = all_streams.index(stream)
    return LEASE_KEY if n == len(all_streams) - 1 else f"{LEASE_KEY}:{n}"


async def flush_once(
    deps: Deps, stream: str | None = None, block_ms: int | None = None, cache: dict[str, dict[str, Any]] | None = None
) -> int:
    """Store one batch from the head of a stream (every stream when None); how many entries it handled."""
    if stream is None:
        return sum([await flush_once(deps, s, block_ms, cache) for s in streams()])
    cache = {} if cache is None else cache
    entries: Entries = await live(deps).read_pending(stream, BATCH, block_ms)
    if not entries:
        return 0
    work = _Pass()
    for _, fields in entries:
        parts = fields["g"].split("\t")
        if parts[0] == "g":
            work.grants[parts[1]] = await _grant_doc(deps, cache, parts)
        elif parts[0] == "v":
            doc = work.grants.get(parts[1])
            if doc is not None:
                _apply_verdict(doc, parts[2], parts[4])
            else:
                work.verdicts.append((parts[1], parts[2], parts[4]))
        elif parts[0] == "r":
            work.moves.append(parts)
    await ledger.grant_docs(deps, list(work.grants.values()))
    for eid, state, reason in work.verdicts:
        await ledger_store.annotate(deps.db, eid, {"risk": RISK.get(state, "unknown"), "note": reason})
        if state == "h":
            await ledger_store.change_status(deps.db, eid, from_=("granted",), to="held")
    for _, batch_id, wave, moved, detail, at in work.moves:
        await _record_move(deps, cache, batch_id, int(wave), int(moved), detail, int(at))
    await live(deps).trim(stream, [entry_id for entry_id, _ in entries])
    if stream == LEGACY_STREAM and len(entries) < BATCH:
        await live(deps).forget_if_empty(stream)  # drained: later turns find no key at all
    return len(entries)


async def _record_move(
    deps: Deps, cache: dict[str, dict[str, Any]], batch_id: str, wave: int, moved: int, detail: str, at: int
) -> None:
    doc = {"_id": f"{batch_id}:{wave}", "batch": batch_id, "wave": wave, "moved": moved, "parts": detail,
           "at": from_timestamp(at / 1000)}  # fmt: skip
    if await store.record_move(deps.db, doc) and moved > 0:
        b = await _batch(deps, cache, batch_id)
        summary = f"第 {wave} 波结束，剩余 {moved} 张转入公共池（{detail}）"
        await audit.record(deps.db, None, "coupon.leftovers", "coupon_batch", batch_id, b["org_path"], summary=summary)


async def drain(deps: Deps) -> int:
    total, cache = 0, dict[str, dict[str, Any]]()
    for stream in streams():
        while True:
            n = await flush_once(deps, stream, cache=cache)
            total += n
            if n < BATCH:
                break
    return total


async def _holds(lease: Lease) -> bool:
    """Ours for the next turn: renewed once half its time is used, taken when free."""
    if lease.held and lease.held_until - time.monotonic() > LEASE_MS / 2000:
        return True
    return await lease.renew() or await lease.acquire()


async def run_flusher(deps: Deps) -> None:
    """The background loop: flush every partition whose lease this process holds; sleep when all are empty."""
    leases = [(s, Lease(deps.redis, lease_key(s), ttl=LEASE_MS / 1000)) for s in streams()]
    cache: dict[str, dict[str, Any]] = {}
    while True:
        try:
            busy = False
            for stream, lease in leases:
                if await _holds(lease):
                    busy |= await flush_once(deps, stream, cache=cache) > 0
            if not busy:
                await asyncio.sleep(IDLE_BLOCK_MS / 1000)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis or MongoDB unavailable: the grants wait in the stream
            log.exception("coupon flush failed; retrying in %.0fs", RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)


async def start(deps: Deps) -> None:
    """Start-up hook: drain what a previous process left, then keep flushing in the background."""
    drained = await drain(deps)
    if drained:
        log.info("flushed %d coupon entries left pending by a previous run", drained)
    deps.spawn(run_flusher(deps), "coupon-flusher")
    deps.spawn(reminders.run_reminders(deps), "coupon-reminders")
    deps.closers.append(lambda: _final_drain(deps))


async def _final_drain(deps: Deps) -> None:
    try:
        await asyncio.wait_for(drain(deps), 5)
    except Exception:  # noqa: BLE001 - shutting down: what is left is flushed at the next start
        log.warning("coupon grants left in the stream at shutdown are flushed at the next start")
