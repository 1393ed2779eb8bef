"""Runs of a push (`push_runs`) and the audience snapshot cut into chunks (`push_chunks`).

    push_runs: {_id: "<push id>-<occurrence>", push, org_path, channel, occurrence, status, reason?,
                created_at, started_at, finished_at?, paused_until?, media_id?, totals?, receipts?, mass_reports?,
                purged_at?, snap: {done, seq, total, planned?, owner?, lease_until}}

One run is one occurrence of a push (a recurring push has many). The `_id` is derived from the
occurrence, so a duplicate fire of the same occurrence cannot create a second run (unique `_id`).

    push_chunks: {_id: "<run id>:<seq>", run, seq, openids: [...], skips: {openid: reason},
                  lia: [...], resume, state: pending|leased|done, owner?, lease_until, attempts,
                  wm, clean, attempt_at?, counts?}

    push_ranges: {_id: "<run id>:r<nnn>", run, r, lo, hi, resume, k, total, done, owner?, lease_until}

The audience snapshot is cut in parallel: the planner (one instance, under the run's `snap` lease)
splits the audience's key space into ranges `(lo, hi]`; any instance with a free snapshotter
claims a range under a lease, cuts it into chunks (`resume`: the last key written, `k`: chunks
written) and marks it done; the last one marks the run's snapshot done with the exact totals.
Chunk `k` of range `r` has sequence number `r * RANGE_STRIDE + k` (stable, so a resumed range
finds a chunk it wrote but had not checkpointed).

Chunks are claimed by point lookups on `_id` (the sequence number comes from a Redis queue of
ready chunks) or, for the few left behind, by the `(run, state)` index — never by a query that
has to read every pending chunk. `wm` (watermark) is written *before* recipients at or above the old value
are attempted: recipients below `wm` without a delivery record are "in doubt" after a crash,
those above it were never attempted. `clean` says the last holder stopped on purpose with every
outcome recorded, so nothing below `wm` is in doubt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.clock import from_timestamp, now
from storage.batching import durable, insert_new

Db = AsyncDatabase[dict[str, Any]]
EPOCH = from_timestamp(0)
COUNT_FIELDS = ("sent", "failed", "skipped", "unknown")


def chunk_id(run_id: str, seq: int) -> str:
    return f"{run_id}:{seq:06d}"


async def ensure_indexes(db: Db) -> None:
    await db.push_runs.create_index([("push", ASCENDING), ("created_at", DESCENDING)])
    await db.push_runs.create_index([("status", ASCENDING)])
    await db.push_runs.create_index([("settle_pending", ASCENDING)], sparse=True)
    await db.push_chunks.create_index([("run", ASCENDING), ("state", ASCENDING)])
    await db.push_chunks.create_index([("run", ASCENDING), ("done", ASCENDING)])
    await db.push_ranges.create_index([("run", ASCENDING), ("done", ASCENDING), ("lease_until", ASCENDING)])
    await db.push_runs.create_index([("finished_at", ASCENDING)], sparse=True)  # retention


# --- runs ----------------------------------------------------------------------------------------
async def create_run(db: Db, doc: dict[str, Any]) -> bool:
    """False when this occurrence already has a run (the idempotency key did its job)."""
    try:
        await db.push_runs.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def get_run(db: Db, run_id: str) -> dict[str, Any] | None:
    return await db.push_runs.find_one({"_id": run_id})


async def runs_of_push(db: Db, push_id: str, limit: int = 20) -> list[dict[str, Any]]:
    cursor = db.push_runs.find({"push": push_id}).sort("created_at", DESCENDING).limit(limit)
    return await cursor.to_list()


async def add_receipts(db: Db, run_id: str, counts: dict[str, int]) -> None:
    """Template messages' delivery receipts (services/pushes/receipts.py), added up on the run."""
    await durable(db.push_runs).update_one({"_id": run_id}, {"$inc": {f"receipts.{k}": n for k, n in counts.items()}})


async def add_mass_report(db: Db, run_id: str, msgid: int, counts: dict[str, int]) -> bool:
    """A mass batch's report (MASSSENDJOBFINISH), added up on the run once per msgid."""
    result = await durable(db.push_runs).update_one(
        {"_id": run_id, "mass_reports": {"$ne": msgid}},
        {"$inc": {f"receipts.{k}": n for k, n in counts.items()}, "$push": {"mass_reports": msgid}},
    )
    return result.modified_count == 1


async def runs_with_status(db: Db, status: str) -> list[dict[str, Any]]:
    return await db.push_runs.find({"status": status}).to_list()


async def runs_to_settle(db: Db) -> list[dict[str, Any]]:
    """Runs stopped early whose exact totals are still to be counted (few, and only for a moment)."""
    return await db.push_runs.find({"settle_pending": True}).to_list()


async def set_run(
    db: Db, run_id: str, expect: tuple[str, ...] | None, changes: dict[str, Any], unset: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    query: dict[str, Any] = {"_id": run_id}
    if expect is not None:
        query["status"] = {"$in": list(expect)}
    update: dict[str, Any] = {"$set": changes, "$inc": {"rev": 1}}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    return await db.push_runs.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)


async def claim_snapshot(db: Db, run_id: str, owner: str, at: datetime, until: datetime) -> dict[str, Any] | None:
    """Take (or take over) the snapshot of a run; only one instance cuts an audience at a time."""
    query = {"_id": run_id, "snap.done": False, "snap.lease_until": {"$lt": at}}
    update = {"$set": {"snap.owner": owner, "snap.lease_until": until}}
    return await db.push_runs.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)


async def plan_snapshot(db: Db, run_id: str, owner: str, ranges: list[tuple[Any, Any]], source: str) -> bool:
    """Write the run's ranges and mark the run planned. The plan is stored in the run first, once:
    a planner that died half way is repeated with the stored plan, not a new one computed from
    figures that have moved since (ranges from two plans would overlap or leave gaps)."""
    await db.push_runs.update_one(
        {"_id": run_id, "snap.owner": owner, "snap.planned": None, "snap.plan": {"$exists": False}},
        {"$set": {"snap.plan": [[lo, hi] for lo, hi in ranges], "snap.source": source}},
    )
    run = await db.push_runs.find_one({"_id": run_id}, {"snap.plan": 1, "snap.source": 1})
    if run is None or "plan" not in run["snap"]:
        return False
    source = run["snap"].get("source", source)
    docs = [
        {"_id": range_id(run_id, r), "run": run_id, "r": r, "lo": lo, "hi": hi, "resume": lo, "k": 0, "total": 0,
         "done": False, "owner": None, "lease_until": EPOCH, "source": source}
        for r, (lo, hi) in enumerate(run["snap"]["plan"])
    ]  # fmt: skip
    await insert_new(durable(db.push_ranges), docs)  # a planner that died half way wrote some already
    result = await db.push_runs.update_one(
        {"_id": run_id, "snap.owner": owner, "snap.planned": None},
        {"$set": {"snap.planned": len(docs), "snap.planned_at": now(), "snap.lease_until": EPOCH}},
    )
    return result.matched_count == 1


async def continue_range(db: Db, run_id: str, *, k: int, resume: Any, total: int) -> None:
    """Range 0 of a run whose audience an older release had begun to cut in one stream: go on from there."""
    await db.push_ranges.update_one(
        {"_id": range_id(run_id, 0), "k": 0}, {"$set": {"k": k, "resume": resume, "total": total}}
    )


def range_id(run_id: str, r: int) -> str:
    return f"{run_id}:r{r:03d}"


RANGE_STRIDE = 1_000_000  # chunks per range, at most (a billion recipients per range)


def range_seq(r: int, k: int) -> int:
    return r * RANGE_STRIDE + k


async def claim_range(db: Db, run_id: str, owner: str, at: datetime, until: datetime) -> dict[str, Any] | None:
    """Lease a range of the run nobody is cutting (never started, or its cutter stopped renewing)."""
    query = {"run": run_id, "done": False, "lease_until": {"$lt": at}}
    update = {"$set": {"owner": owner, "lease_until": until}}
    return await db.push_ranges.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)


async def checkpoint_range(
    db: Db, rid: str, owner: str, *, k: int, resume: Any, total: int, until: datetime, done: bool = False
) -> bool:
    changes = {"k": k, "resume": resume, "total": total, "lease_until": until, "done": done}
    result = await db.push_ranges.update_one({"_id": rid, "owner": owner, "done": False}, {"$set": changes})
    return result.matched_count == 1


async def renew_range(db: Db, rid: str, owner: str, until: datetime) -> bool:
    result = await db.push_ranges.update_one(
        {"_id": rid, "owner": owner, "done": False}, {"$set": {"lease_until": until}}
    )
    return result.matched_count == 1


async def ranges_of(db: Db, run_id: str) -> list[dict[str, Any]]:
    return await db.push_ranges.find({"run": run_id}).sort("r", ASCENDING).to_list()


async def open_ranges(db: Db, run_id: str) -> int:
    return await db.push_ranges.count_documents({"run": run_id, "done": False})


async def finish_snapshot(db: Db, run_id: str) -> dict[str, Any] | None:
    """Once every range is cut: the run's snapshot is done, with its exact chunk and recipient counts
    (None when a range is still open or someone else finished it)."""
    ranges = await ranges_of(db, run_id)
    if not ranges or any(not r["done"] for r in ranges):
        return None
    seq, total = sum(int(r["k"]) for r in ranges), sum(int(r["total"]) for r in ranges)
    changes = {"snap.done": True, "snap.seq": seq, "snap.total": total, "snap.lease_until": EPOCH,
               "snap.done_at": now()}  # fmt: skip
    return await db.push_runs.find_one_and_update(
        {"_id": run_id, "snap.done": False}, {"$set": changes, "$inc": {"rev": 1}}, return_document=ReturnDocument.AFTER
    )


async def chunk_seqs(db: Db, run: dict[str, Any]) -> list[int]:
    """Every chunk sequence number of a run, in audience order (ranges, then chunks in each)."""
    ranges = await ranges_of(db, run["_id"])
    if not ranges:  # a run cut before audiences were cut in ranges: 0 .. seq-1
        return list(range(int(run["snap"].get("seq", 0))))
    return [range_seq(int(r["r"]), k) for r in ranges for k in range(int(r["k"]))]


async def checkpoint_snapshot(
    db: Db, run_id: str, owner: str, *, seq: int, resume: Any, total: int, until: datetime, done: bool = False
) -> bool:
    changes = {"snap.seq": seq, "snap.resume": resume, "snap.total": total, "snap.lease_until": until,
               "snap.done": done}  # fmt: skip
    result = await db.push_runs.update_one({"_id": run_id, "snap.owner": owner}, {"$set": changes})
    return result.matched_count == 1


async def renew_snapshot(db: Db, run_id: str, owner: str, until: datetime) -> bool:
    result = await db.push_runs.update_one(
        {"_id": run_id, "snap.owner": owner, "snap.done": False}, {"$set": {"snap.lease_until": until}}
    )
    return result.matched_count == 1


async def release_snapshot(db: Db, run_id: str, owner: str) -> None:
    await db.push_runs.update_one({"_id": run_id, "snap.owner": owner}, {"$set": {"snap.lease_until": EPOCH}})


# --- chunks --------------------------------------------------------------------------------------
def new_chunk(
    run_id: str, seq: int, openids: list[str], skips: dict[str, str], resume: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "_id": chunk_id(run_id, seq), "run": run_id, "seq": seq, "openids": openids, "skips": skips,
        "resume": resume, "state": "pending", "done": False, "lease_until": EPOCH, "attempts": 0, "wm": 0,
        "clean": True, **extra,
    }  # fmt: skip


async def insert_chunks(db: Db, docs: list[dict[str, Any]]) -> int:
    """Insert chunks in order; one already there (written by a cutter whose lease this one took over)
    is left as it is. Returns how many were inserted."""
    return (await insert_new(db.push_chunks, docs)).count


async def get_chunk(db: Db, run_id: str, seq: int) -> dict[str, Any] | None:
    return await db.push_chunks.find_one({"_id": chunk_id(run_id, seq)})


async def claim_chunk(db: Db, cid: str, owner: str, at: datetime, until: datetime) -> dict[str, Any] | None:
    """Lease a pending chunk, or a leased one whose holder stopped renewing."""
    query = {"_id": cid, "state": {"$in": ["pending", "leased"]}, "lease_until": {"$lt": at}}
    update = {"$set": {"state": "leased", "owner": owner, "lease_until": until}, "$inc": {"attempts": 1}}
    return await db.push_chunks.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)


async def open_chunks(db: Db, run_id: str, state: str) -> list[dict[str, Any]]:
    """Chunks of a run in `state` (pending or leased): few once the cursor has passed them."""
    fields = {"seq": 1, "lease_until": 1, "owner": 1, "attempts": 1, "wm": 1, "counts": 1}
    return await db.push_chunks.find({"run": run_id, "state": state}, fields).to_list()


async def renew_chunk(db: Db, cid: str, owner: str, until: datetime) -> bool:
    result = await db.push_chunks.update_one(
        {"_id": cid, "owner": owner, "state": "leased"}, {"$set": {"lease_until": until}}
    )
    return result.matched_count == 1


async def advance_wm(db: Db, cid: str, owner: str, wm: int, at: datetime, until: datetime) -> bool:
    """Mark recipients below `wm` as possibly attempted; False when the lease is no longer ours."""
    changes = {"wm": wm, "clean": False, "attempt_at": at, "lease_until": until}
    result = await db.push_chunks.update_one({"_id": cid, "owner": owner, "state": "leased"}, {"$set": changes})
    return result.matched_count == 1


async def release_chunk(db: Db, cid: str, owner: str, *, clean: bool, counts: dict[str, int]) -> bool:
    """Give a chunk back (pause, quota, shutdown); `clean` when every attempt's outcome is recorded."""
    changes: dict[str, Any] = {"state": "pending", "owner": None, "lease_until": EPOCH, "counts": counts}
    if clean:
        changes["clean"] = True
    result = await db.push_chunks.update_one({"_id": cid, "owner": owner, "state": "leased"}, {"$set": changes})
    return result.matched_count == 1


async def complete_chunk(db: Db, cid: str, owner: str, counts: dict[str, int]) -> bool:
    changes = {"state": "done", "done": True, "counts": counts, "clean": True, "lease_until": EPOCH}
    result = await db.push_chunks.update_one({"_id": cid, "owner": owner, "state": "leased"}, {"$set": changes})
    return result.matched_count == 1


async def all_done(db: Db, run_id: str) -> bool:
    """True once every chunk is done. `done` only ever turns true, so one query cannot be fooled by a
    chunk moving between pending and leased while it runs (as two state queries could)."""
    return await db.push_chunks.find_one({"run": run_id, "done": False}, {"_id": 1}) is None


async def done_totals(db: Db, run_id: str) -> dict[str, int]:
    totals = dict.fromkeys(COUNT_FIELDS, 0)
    async for doc in db.push_chunks.find({"run": run_id, "state": "done"}, {"counts": 1}):
        for key in COUNT_FIELDS:
            totals[key] += int((doc.get("counts") or {}).get(key, 0))
    return totals


# --- retention -----------------------------------------------------------------------------------
async def claim_purge(db: Db, finished_before: datetime, at: datetime, until: datetime) -> dict[str, Any] | None:
    """A finished run past retention whose details are still stored, leased for one purger."""
    query = {"finished_at": {"$lt": finished_before}, "purged_at": None, "purge_until": {"$not": {"$gt": at}}}
    update = {"$set": {"purge_until": until}}
    fields = {"_id": 1, "finished_at": 1, "snap.seq": 1}
    return await db.push_runs.find_one_and_update(query, update, fields, return_document=ReturnDocument.AFTER)


async def delete_details(db: Db, run_id: str) -> int:
    """The run's chunks and ranges (the audience, frozen); returns the chunks deleted."""
    result = await db.push_chunks.delete_many({"run": run_id})
    await db.push_ranges.delete_many({"run": run_id})
    return int(result.deleted_count)


async def mark_purged(db: Db, run_id: str, at: datetime, deliveries_deleted: int) -> None:
    """Totals and receipt counts stay on the run; the report says when its rows went."""
    changes = {"purged_at": at, "purged_deliveries": deliveries_deleted}
    await durable(db.push_runs).update_one({"_id": run_id}, {"$set": changes, "$unset": {"purge_until": ""}})
