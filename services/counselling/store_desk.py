"""The MongoDB side of the counsellors' desk: profiles, WeChat bind codes, on-duty, crisis alerts, notices.

Split from store.py (same collections family, same journaled write concern); see its docstring.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.counselling.store import Db, Doc, _c


# --- counsellors ------------------------------------------------------------------------------
async def get_counsellor(db: Db, username: str) -> Doc | None:
    return await _c(db, "counsellors").find_one({"_id": username})


async def save_counsellor(db: Db, username: str, fields: Doc) -> Doc:
    doc = await _c(db, "counsellors").find_one_and_update(
        {"_id": username}, {"$set": fields}, upsert=True, return_document=ReturnDocument.AFTER
    )
    return doc or {}


async def counsellors_serving(db: Db, org_path: tuple[str, ...]) -> list[Doc]:
    """Counsellors of the worker's org or any org above it (a city's counsellors serve its counties)."""
    return await _c(db, "counsellors").find({"org": {"$in": list(org_path)}, "rules.0": {"$exists": True}}).to_list(200)


async def counsellors_with_rules(db: Db) -> list[Doc]:
    return await _c(db, "counsellors").find({"rules.0": {"$exists": True}}).to_list(None)


async def set_bind_code(db: Db, username: str, code: str, expires: datetime, fields: Doc) -> bool:
    """False when another counsellor holds the same code right now (the unique index says so)."""
    try:
        await _c(db, "counsellors").update_one(
            {"_id": username}, {"$set": {**fields, "bind_code": code, "bind_expires": expires}}, upsert=True
        )
    except DuplicateKeyError:
        return False
    return True


async def take_bind_code(db: Db, code: str, openid: str, at: datetime) -> Doc | None:
    """The code is spent by the first valid use: one guarded update sets the counsellor's openid."""
    flt = {"bind_code": code, "bind_expires": {"$gt": at}}
    update = {"$set": {"notify_openid": openid}, "$unset": {"bind_code": "", "bind_expires": ""}}
    return await _c(db, "counsellors").find_one_and_update(flt, update, return_document=ReturnDocument.AFTER)


async def forget_notify_openid(db: Db, username: str, openid: str) -> None:
    await _c(db, "counsellors").update_one(
        {"_id": username, "notify_openid": openid}, {"$unset": {"notify_openid": ""}}
    )


async def on_duty(db: Db, org_path: tuple[str, ...]) -> list[Doc]:
    return await _c(db, "counsellors").find({"org": {"$in": list(org_path)}, "on_duty": True}).to_list(50)


# --- notices ----------------------------------------------------------------------------------
async def queue_notices(db: Db, docs: list[Doc]) -> None:
    ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in docs]
    if ops:
        await _c(db, "notices").bulk_write(ops, ordered=False)


async def drop_notices(db: Db, booking_id: str) -> None:
    await _c(db, "notices").delete_many({"booking_id": booking_id, "state": "pending"})


async def claim_notice(db: Db, at: datetime) -> Doc | None:
    flt = {"state": "pending", "due": {"$lte": at}}
    return await _c(db, "notices").find_one_and_update(flt, {"$set": {"state": "sending", "claimed_at": at}})


async def finish_notice(db: Db, notice_id: str, outcome: str, at: datetime) -> None:
    """The sealed openid is dropped once the notice is settled: nothing left to send to."""
    update = {"$set": {"state": outcome, "sent_at": at}, "$unset": {"to_sealed": ""}}
    await _c(db, "notices").update_one({"_id": notice_id}, update)


# --- crisis alerts ----------------------------------------------------------------------------
async def bump_alert(db: Db, alert_id: str, fields: Doc, at: datetime) -> Doc | None:
    """Insert the alert or count one more message on it (a racing insert is retried as an update)."""
    update = {"$setOnInsert": fields, "$set": {"last_at": at}, "$inc": {"count": 1}}
    for _ in range(2):
        try:
            return await _c(db, "alerts").find_one_and_update(
                {"_id": alert_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            continue
    return None


async def alerts_where(db: Db, flt: Doc, limit: int) -> list[Doc]:
    return await _c(db, "alerts").find(flt).sort("at", DESCENDING).limit(limit).to_list(limit)


async def ack_alert(db: Db, flt: Doc, username: str, at: datetime) -> Doc | None:
    """The first acknowledgement wins (guarded on nobody having taken it)."""
    update = {"$set": {"acknowledged_by": username, "acknowledged_at": at}}
    return await _c(db, "alerts").find_one_and_update(
        {**flt, "acknowledged_by": None}, update, return_document=ReturnDocument.AFTER
    )
