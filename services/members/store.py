"""The union roster (`members`), imported by editors: one document per member number.

`{_id: member_no, name, phone, org, org_path, bound_openid?, birth_md?, imported_at, updated_at}`. Phone numbers are
kept as 11 digits; names as written in the roster (trimmed); `birth_md` "MM-DD" (no year) when the
roster has a birthday column (shown only to the member; services/birthdays). Binding state lives on `mini_users` (its
unique index is the rule); `bound_openid` here is a copy for editors' lists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import now

Db = AsyncDatabase[dict[str, Any]]


@dataclass(frozen=True)
class Member:
    member_no: str
    name: str
    phone: str
    org: str
    org_path: tuple[str, ...]
    bound_openid: str = ""
    birth_md: str = ""


async def ensure_indexes(db: Db) -> None:
    await db.members.create_index([("phone", ASCENDING)])
    await db.members.create_index([("org_path", ASCENDING)])
    await db.members.create_index([("birth_md", ASCENDING)], sparse=True)


def _from_doc(doc: dict[str, Any]) -> Member:
    return Member(
        member_no=doc["_id"],
        name=doc.get("name", ""),
        phone=doc.get("phone", ""),
        org=doc.get("org", ""),
        org_path=tuple(doc.get("org_path") or ()),
        bound_openid=doc.get("bound_openid") or "",
        birth_md=doc.get("birth_md") or "",
    )


async def get(db: Db, member_no: str) -> Member | None:
    doc = await db.members.find_one({"_id": member_no})
    return _from_doc(doc) if doc else None


async def by_phone(db: Db, phone: str) -> list[Member]:
    return [_from_doc(d) async for d in db.members.find({"phone": phone}).limit(20)]


async def existing_orgs(db: Db, member_nos: list[str]) -> dict[str, list[str]]:
    """member_no -> org_path of those already in the roster."""
    cursor = db.members.find({"_id": {"$in": member_nos}}, {"org_path": 1})
    return {d["_id"]: list(d.get("org_path") or ()) async for d in cursor}


async def upsert_many(db: Db, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Idempotent upsert keyed by member number; returns (inserted, already present and refreshed)."""
    if not rows:
        return 0, 0
    at = now()
    ops = [
        UpdateOne(
            {"_id": r["member_no"]},
            {
                "$set": {
                    "name": r["name"],
                    "phone": r["phone"],
                    "org": r["org"],
                    "org_path": r["org_path"],
                    "updated_at": at,
                    **(
                        {"birth_md": r["birth_md"]} if r.get("birth_md") else {}
                    ),  # a roster without the column keeps it
                },
                "$setOnInsert": {"imported_at": at},
            },
            upsert=True,
        )
        for r in rows
    ]
    result = await db.members.bulk_write(ops, ordered=False)
    return result.upserted_count, result.matched_count


async def mark_bound(db: Db, member_no: str, openid: str | None) -> None:
    update = {"$set": {"bound_openid": openid}} if openid else {"$unset": {"bound_openid": ""}}
    await db.members.update_one({"_id": member_no}, update)


async def count_in(db: Db, org: str) -> int:
    return await db.members.count_documents({"org_path": org})


async def contacts(db: Db, member_nos: list[str]) -> dict[str, dict[str, Any]]:
    """Name and phone of the members among `member_nos` (exports for the activity's organisers)."""
    return {m["_id"]: m async for m in db.members.find({"_id": {"$in": member_nos}}, {"name": 1, "phone": 1})}


async def born_in_month(db: Db, month: int, org: str = "", batch: int = 1_000) -> AsyncIterator[list[Member]]:
    """Members (of `org`'s subtree, default all) whose birth month-day lies in `month`, in batches."""
    query: dict[str, Any] = {"birth_md": {"$gte": f"{month:02d}-01", "$lte": f"{month:02d}-31"}}
    if org:
        query["org_path"] = org
    cursor = db.members.find(query).sort("_id", ASCENDING)
    chunk: list[Member] = []
    async for doc in cursor.batch_size(batch):
        chunk.append(_from_doc(doc))
        if len(chunk) >= batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def count_without_birthday(db: Db, org: str) -> int:
    return await db.members.count_documents({"org_path": org, "birth_md": {"$exists": False}})


async def page(db: Db, org: str, query: dict[str, Any], after: str, limit: int) -> list[Member]:
    """A page of `org`'s subtree in member-number order, after the member number `after`."""
    where: dict[str, Any] = {"org_path": org, **query}
    if after:
        where["_id"] = {"$gt": after}
    cursor = db.members.find(where).sort("_id", ASCENDING).limit(limit)
    return [_from_doc(d) async for d in cursor]


async def set_contact(db: Db, member_no: str, name: str, phone: str) -> None:
    await db.members.update_one({"_id": member_no}, {"$set": {"name": name, "phone": phone, "updated_at": now()}})


async def move(db: Db, member_no: str, org: str, org_path: list[str]) -> None:
    await db.members.update_one({"_id": member_no}, {"$set": {"org": org, "org_path": org_path, "updated_at": now()}})


async def current(db: Db, member_nos: list[str]) -> dict[str, Member]:
    """The stored members among `member_nos` (what an import is about to change)."""
    return {d["_id"]: _from_doc(d) async for d in db.members.find({"_id": {"$in": member_nos}})}
