"""Per-recipient delivery records (`push_deliveries`) and monthly mass-send slots (`push_mass_slots`).

    push_deliveries: {_id: "<run id>:<openid>", status: sent|failed|skipped|unknown, at,
                      msgid?, errcode?, reason?, receipt?: delivered|blocked|failed, receipt_at?}

The `_id` is the idempotency key: records are written in batches with `insert_many(ordered=False)`
and a duplicate key means "already recorded" (a resumed chunk, or an overlapping holder) — the
first record wins and is the truth. There is deliberately no secondary index: a million-row push
writes a million records, and every index would slow that down; reports read a run chunk by chunk,
looking records up by `_id` (the chunk lists its openids).

    push_mass_slots: {_id: "<yyyymm>:<openid>", runs: [run id, ...]}

WeChat delivers at most 4 mass messages a month to a follower. A run claims a slot before it sends
(`$addToSet` of its run id, only while fewer than 4 are taken or it already holds one), so a
resumed run claims the same slots again and a follower whose month is full is skipped, counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from storage.batching import DUPLICATE_KEY, durable, insert_new

Db = AsyncDatabase[dict[str, Any]]
# SecantusDB re-checks `$in` linearly per document, so a large `$in` costs O(n^2): ask in small bites.
LOOKUP_BATCH = 50
MASS_MONTHLY_LIMIT = 4


def record_id(run_id: str, openid: str) -> str:
    return f"{run_id}:{openid}"


def openid_of(run_id: str, rec_id: str) -> str:
    return rec_id[len(run_id) + 1 :]


async def insert_many(db: Db, records: Sequence[dict[str, Any]]) -> list[str]:
    """Insert records; returns the `_id`s that were already recorded (duplicates, left as they were)."""
    inserted = await insert_new(durable(db.push_deliveries), records)
    return [records[i]["_id"] for i in inserted.duplicates]


async def set_receipts(db: Db, run_id: str, items: Sequence[tuple[str, int | None]], receipt: str, at: Any) -> int:
    """Record WeChat's delivery receipt on (openid, msgid) records of a run that have none yet (msgid
    None: the openid's record, for subscribe notices); returns how many records took it (a repeated
    report, or a racing instance, changes nothing)."""
    ops = [
        UpdateOne({"_id": record_id(run_id, openid), "receipt": {"$exists": False}}
                  | ({"msgid": msgid} if msgid is not None else {"status": "sent"}),
                  {"$set": {"receipt": receipt, "receipt_at": at}})
        for openid, msgid in items
    ]  # fmt: skip
    if not ops:
        return 0
    result = await durable(db.push_deliveries).bulk_write(ops, ordered=False)
    return int(result.modified_count)


async def find(db: Db, ids: Sequence[str], fields: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Records by `_id`, in small `$in` batches (see LOOKUP_BATCH)."""
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), LOOKUP_BATCH):
        batch = list(ids[i : i + LOOKUP_BATCH])
        async for doc in db.push_deliveries.find({"_id": {"$in": batch}}, fields):
            found[doc["_id"]] = doc
    return found


async def claim_mass_slots(db: Db, month: str, run_id: str, openids: Iterable[str]) -> set[str]:
    """Claim this month's mass slot for each openid; returns the openids whose month is full.

    One guarded upsert per follower (atomic per document): `$addToSet` only while fewer than 4 runs
    hold a slot. When the guard misses, the upsert collides with the existing `_id`; those are read
    back, and a follower whose slots include this run (a resumed run) is not full for it.
    """
    ids = [f"{month}:{o}" for o in openids]
    full_key = f"runs.{MASS_MONTHLY_LIMIT - 1}"
    ops = [
        UpdateOne({"_id": i, full_key: {"$exists": False}}, {"$addToSet": {"runs": run_id}}, upsert=True) for i in ids
    ]
    if not ops:
        return set()
    try:
        await db.push_mass_slots.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        missed = [ids[e["index"]] for e in errors]
        held = {d["_id"] for d in (await _find_slots(db, missed)) if run_id in d.get("runs", ())}
        return {i.split(":", 1)[1] for i in missed if i not in held}
    return set()


async def _find_slots(db: Db, ids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), LOOKUP_BATCH):
        out += await db.push_mass_slots.find({"_id": {"$in": ids[i : i + LOOKUP_BATCH]}}).to_list()
    return out


async def delete_run(db: Db, run_id: str) -> int:
    """Every delivery record of a run: `_id`s "<run id>:<openid>" lie between "<run id>:" and
    "<run id>;" (";" follows ":"), one range of the primary key."""
    result = await db.push_deliveries.delete_many({"_id": {"$gt": f"{run_id}:", "$lt": f"{run_id};"}})
    return int(result.deleted_count)
