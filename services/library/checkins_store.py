"""Reading check-ins (阅读打卡) and reading campaigns (e.g. 世界读书日) in MongoDB.

- `library_checkins` `{_id: "<openid>:<yyyymmdd>", openid, day, org, org_path, at}`: one per worker and
  day, by the unique `_id` (a second check-in the same day changes nothing);
- `library_campaigns` `{_id, org, org_path, title, starts_on, ends_on, created_by, created_at}`.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.library.store import Db, c
from storage.indexes import ensure_index
from storage.reads import for_reports


async def ensure_indexes(db: Db) -> None:
    await ensure_index(db.library_checkins, [("openid", ASCENDING), ("day", DESCENDING)])
    await ensure_index(db.library_checkins, [("org_path", ASCENDING), ("day", ASCENDING)])
    await ensure_index(db.library_campaigns, [("org_path", ASCENDING), ("ends_on", ASCENDING)])


async def check_in(db: Db, doc: dict[str, Any]) -> bool:
    """True when this is the day's first check-in (journaled); False when it was already there."""
    try:
        await c(db, "checkins").insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def days_of(db: Db, openid: str, limit: int = 400) -> list[str]:
    """The worker's check-in days, newest first."""
    cursor = db.library_checkins.find({"openid": openid}, {"day": 1}).sort("day", DESCENDING).limit(limit)
    return [d["day"] async for d in cursor]


async def insert_campaign(db: Db, doc: dict[str, Any]) -> None:
    await c(db, "campaigns").insert_one(doc)


async def get_campaign(db: Db, campaign_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.library_campaigns.find_one({"_id": campaign_id})
    return doc


async def active_campaigns(db: Db, org_path: list[str], day: str) -> list[dict[str, Any]]:
    """Campaigns owned on the worker's org path that have not ended."""
    query = {"org": {"$in": org_path}, "ends_on": {"$gte": day}, "starts_on": {"$lte": day}}
    return [d async for d in db.library_campaigns.find(query).sort("starts_on", ASCENDING).limit(20)]


async def checkins_by(db: Db, org: str, group_field: str, first: str, last: str) -> list[dict[str, Any]]:
    """Check-ins and distinct readers per org one level below `org`, between two days (inclusive)."""
    pipeline = [
        {"$match": {"org_path": org, "day": {"$gte": first, "$lte": last}}},
        {"$group": {"_id": f"${group_field}", "checkins": {"$sum": 1}, "readers": {"$addToSet": "$openid"}}},
    ]
    # A ranking: a secondary may serve it (storage/reads).
    rows = [r async for r in await for_reports(db.library_checkins).aggregate(pipeline)]
    return sorted(
        ({"org": r["_id"], "checkins": r["checkins"], "readers": len(r["readers"])} for r in rows),
        key=lambda r: (-r["readers"], -r["checkins"], str(r["org"])),
    )
