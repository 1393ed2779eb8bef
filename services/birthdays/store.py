"""The MongoDB side of birthdays: `birthday_policies` and `birthday_grants`.

`birthday_policies`: {_id: org, org_path, enabled, gift_kind, title, value_cents, budget_cents, vendor_org,
window_days, template_id, updated_*}. `birthday_grants`: {_id: "bday:<year>:<member>", year, month,
member_id, policy_org, org, org_path, value_cents, title, birthday, granted_at, granted?, notice?} — the claim: its
unique _id makes a member's gift once per year whatever org they are in; the budget charge it stands
for lives in Redis (live.py) and is rebuilt from these documents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]


def _grants(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("birthday_grants"))


async def ensure_indexes(db: Db) -> None:
    await db.birthday_policies.create_index([("org_path", ASCENDING)])
    await db.birthday_grants.create_index([("policy_org", ASCENDING), ("year", ASCENDING)])
    await db.birthday_grants.create_index([("org_path", ASCENDING), ("year", ASCENDING), ("month", ASCENDING)])
    await db.birthday_grants.create_index([("year", ASCENDING), ("month", ASCENDING), ("notice", ASCENDING)])


async def save_policy(db: Db, org: str, fields: Doc) -> tuple[Doc | None, Doc]:
    """(before, after)."""
    coll = durable(db.get_collection("birthday_policies"))
    before = await coll.find_one({"_id": org})
    after = await coll.find_one_and_update(
        {"_id": org}, {"$set": fields}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert after is not None
    return before, after


async def policy(db: Db, org: str) -> Doc | None:
    return await db.birthday_policies.find_one({"_id": org})


async def policies_in(db: Db, org: str) -> list[Doc]:
    return [d async for d in db.birthday_policies.find({"org_path": org}).sort("_id", ASCENDING)]


async def enabled_policies(db: Db) -> dict[str, Doc]:
    return {d["_id"]: d async for d in db.birthday_policies.find({"enabled": True})}


async def claim(db: Db, doc: Doc) -> Doc | None:
    """Insert the year's claim; None when it is there already (then `get_claim` tells whose)."""
    try:
        await _grants(db).insert_one(doc)
    except DuplicateKeyError:
        return None
    return doc


async def get_claim(db: Db, claim_id: str) -> Doc | None:
    return await db.birthday_grants.find_one({"_id": claim_id})


async def claims_among(db: Db, claim_ids: list[str]) -> dict[str, Doc]:
    return {d["_id"]: d async for d in db.birthday_grants.find({"_id": {"$in": claim_ids}})}


async def mark_granted(db: Db, claim_id: str) -> None:
    await _grants(db).update_one({"_id": claim_id}, {"$set": {"granted": True}})


async def unnotified(db: Db, year: int, month: int, limit: int = 10_000) -> list[str]:
    """Granted gifts nobody tried to tell yet (a run that stopped before its notices, say)."""
    query = {"year": year, "month": month, "granted": True, "notice": {"$exists": False}}
    return [d["_id"] async for d in db.birthday_grants.find(query, {"_id": 1}).limit(limit)]


async def claims_of_budget(db: Db, policy_org: str, year: int) -> AsyncIterator[Doc]:
    async for d in db.birthday_grants.find(
        {"policy_org": policy_org, "year": year}, {"member_id": 1, "value_cents": 1}
    ):
        yield d


async def start_notice(db: Db, claim_id: str) -> bool:
    """At most once: only the caller that moves the notice from absent to `sending` may send it."""
    result = await _grants(db).update_one(
        {"_id": claim_id, "notice": {"$exists": False}}, {"$set": {"notice": "sending"}}
    )
    return result.modified_count == 1


async def finish_notice(db: Db, claim_id: str, outcome: str) -> None:
    await _grants(db).update_one({"_id": claim_id}, {"$set": {"notice": outcome}})


async def spent_by_month(db: Db, policy_org: str, year: int) -> dict[int, int]:
    out: dict[int, int] = {}
    async for d in db.birthday_grants.find({"policy_org": policy_org, "year": year}, {"month": 1, "value_cents": 1}):
        out[d["month"]] = out.get(d["month"], 0) + int(d["value_cents"])
    return out
