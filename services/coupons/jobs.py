"""Write-behind: grants, risk verdicts and stock moves go from the `cpn:grants` stream into MongoDB.

Like ballots (services/polls/flusher.py): a batch is read from the head of the stream, written
(grants as ledger entitlements under their deterministic ids, journaled; moves under `<batch>:<wave>`),
and only then deleted from the stream. A crash in between replays the batch and writes nothing twice.
Order matters and is kept: a verdict follows its grant in the stream, so it either merges into the
grant's document before the insert (same batch) or updates the stored document afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from core.clock import from_timestamp
from core.deps import Deps
from core.lease import Lease
from services.benefits import ledger
from services.benefits import store as ledger_store
from services.coupons import reminders, store
from services.coupons.live import CouponLive, Entries
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


def live(deps: Deps) -> CouponLive:
    found = deps.extras.get("coupons")
    if found is None:
        found = deps.extras["coupons"] = CouponLive(deps.redis, deps.redis_pipe)
    return found


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


async def flush_once(deps: Deps, block_ms: int | None = None, cache: dict[str, dict[str, Any]] | None = None) -> int:
    """Store one batch from the head of the stream; returns how many entries it handled."""
    cache = {} if cache is None else cache
    entries: Entries = await live(deps).read_pending(BATCH, block_ms)
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
    await live(deps).trim([entry_id for entry_id, _ in entries])
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
    while True:
        n = await flush_once(deps, cache=cache)
        total += n
        if n < BATCH:
            return total


async def run_flusher(deps: Deps) -> None:
    """The background loop: hold the lease, flush as grants arrive; on errors wait and retry."""
    lease = Lease(deps.redis, LEASE_KEY, ttl=LEASE_MS / 1000)
    cache: dict[str, dict[str, Any]] = {}
    while True:
        try:
            if not await lease.renew() and not await lease.acquire():
                await asyncio.sleep(LEASE_MS / 1000 / 2)
                continue
            await flush_once(deps, block_ms=IDLE_BLOCK_MS, cache=cache)
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
