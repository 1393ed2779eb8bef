"""Mini-program users (`mini_users`): one document per mini-program openid.

`{_id: openid, unionid?, follower_openid?, member_id?, org?, org_path?, created_at, last_login_at, bound_at?}`.
A member is bound to at most one user: a unique index on `member_id` (partial: only bound users), and a
user binds once: the bind update is guarded on `member_id` not existing. Both in one atomic write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.clock import now

Db = AsyncDatabase[dict[str, Any]]


@dataclass(frozen=True)
class MiniUser:
    openid: str
    unionid: str = ""
    follower_openid: str = ""
    member_id: str = ""
    org: str = ""
    org_path: tuple[str, ...] = ()
    created_at: datetime | None = None
    bound_at: datetime | None = None


class AlreadyBound(Exception):
    """The user is bound already, or the member is bound to someone else (`which` says which)."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


async def ensure_indexes(db: Db) -> None:
    await db.mini_users.create_index(
        [("member_id", ASCENDING)], unique=True, partialFilterExpression={"member_id": {"$exists": True}}
    )
    await db.mini_users.create_index([("unionid", ASCENDING)], sparse=True)
    await db.mini_users.create_index([("org_path", ASCENDING)])


def _from_doc(doc: dict[str, Any]) -> MiniUser:
    return MiniUser(
        openid=doc["_id"],
        unionid=doc.get("unionid") or "",
        follower_openid=doc.get("follower_openid") or "",
        member_id=doc.get("member_id") or "",
        org=doc.get("org") or "",
        org_path=tuple(doc.get("org_path") or ()),
        created_at=doc.get("created_at"),
        bound_at=doc.get("bound_at"),
    )


async def upsert_login(db: Db, openid: str, unionid: str, follower_openid: str) -> MiniUser:
    """Create the user on first login, refresh login facts on later ones. Safe under concurrent logins."""
    at = now()
    update: dict[str, Any] = {"$setOnInsert": {"created_at": at}, "$set": {"last_login_at": at}}
    if unionid:
        update["$set"]["unionid"] = unionid
    if follower_openid:
        update["$set"]["follower_openid"] = follower_openid
    for attempt in range(2):
        try:
            doc = await db.mini_users.find_one_and_update(
                {"_id": openid}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
            assert doc is not None  # upsert with ReturnDocument.AFTER always returns the document
            return _from_doc(doc)
        except DuplicateKeyError:  # two first logins raced on the upsert: the second one now matches
            if attempt:
                raise
    raise AssertionError("unreachable")


async def get(db: Db, openid: str) -> MiniUser | None:
    doc = await db.mini_users.find_one({"_id": openid})
    return _from_doc(doc) if doc else None


async def bind_member(db: Db, openid: str, member_id: str, org: str, org_path: list[str]) -> MiniUser:
    """Bind atomically: raises AlreadyBound("user") or AlreadyBound("member")."""
    fields = {"member_id": member_id, "org": org, "org_path": org_path, "bound_at": now()}
    try:
        doc = await db.mini_users.find_one_and_update(
            {"_id": openid, "member_id": {"$exists": False}}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
    except DuplicateKeyError:
        raise AlreadyBound("member") from None
    if doc is None:
        raise AlreadyBound("user")
    return _from_doc(doc)


async def unbind_member(db: Db, openid: str) -> MiniUser | None:
    doc = await db.mini_users.find_one_and_update(
        {"_id": openid},
        {"$unset": {"member_id": "", "org": "", "org_path": "", "bound_at": ""}},
        return_document=ReturnDocument.AFTER,
    )
    return _from_doc(doc) if doc else None


async def user_of_member(db: Db, member_id: str) -> str | None:
    doc = await db.mini_users.find_one({"member_id": member_id}, {"_id": 1})
    return doc["_id"] if doc else None


async def link_follower(db: Db, unionid: str, follower_openid: str) -> MiniUser | None:
    """The mini-program user with this unionid now knows their follower openid (None: no such user)."""
    doc = await db.mini_users.find_one_and_update(
        {"unionid": unionid}, {"$set": {"follower_openid": follower_openid}}, return_document=ReturnDocument.AFTER
    )
    return _from_doc(doc) if doc else None


async def of_follower(db: Db, follower_openid: str, unionid: str = "") -> str | None:
    """The mini-program openid of an official-account follower: same unionid, or linked at login."""
    ors: list[dict[str, Any]] = [{"follower_openid": follower_openid}]
    if unionid:
        ors.insert(0, {"unionid": unionid})
    doc = await db.mini_users.find_one({"$or": ors}, {"_id": 1})
    return doc["_id"] if doc else None


async def by_unionid(db: Db, unionid: str) -> MiniUser | None:
    """The mini-program user with this unionid (a follower writing to the account is the same person)."""
    doc = await db.mini_users.find_one({"unionid": unionid})
    return _from_doc(doc) if doc else None


async def move_member(db: Db, member_id: str, org: str, org_path: list[str]) -> MiniUser | None:
    """The user bound to `member_id` (if any) follows the member to another org."""
    doc = await db.mini_users.find_one_and_update(
        {"member_id": member_id}, {"$set": {"org": org, "org_path": org_path}}, return_document=ReturnDocument.AFTER
    )
    return _from_doc(doc) if doc else None


async def by_members(db: Db, member_ids: list[str]) -> dict[str, MiniUser]:
    """member id -> the mini-program user bound to it, for those bound."""
    cursor = db.mini_users.find({"member_id": {"$in": member_ids}})
    users = [_from_doc(d) async for d in cursor]
    return {u.member_id: u for u in users}
