"""The org tree in MongoDB: `orgs` documents keyed by code, each with its materialized ancestor path.

`path` lists the ancestors from the province down to the org itself, so "the subtree of X" is
`{"path": X}` and "X and its ancestors" is `path` of X: both one indexed query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

Db = AsyncDatabase[dict[str, Any]]

LEVELS = ("province", "city", "county", "township", "enterprise")
LEVEL_NAMES = {"province": "省", "city": "市", "county": "县（区）", "township": "乡镇（街道）", "enterprise": "企业"}
PROVINCE_CODE = "370000"  # 山东省总工会, the root of the tree


@dataclass(frozen=True)
class Org:
    code: str
    name: str
    level: str
    parent: str | None
    path: tuple[str, ...]  # province ... self

    @property
    def ancestors_and_self(self) -> tuple[str, ...]:
        return self.path


async def ensure_indexes(db: Db) -> None:
    await db.orgs.create_index([("path", ASCENDING)])
    await db.orgs.create_index([("parent", ASCENDING)])


def _from_doc(doc: dict[str, Any]) -> Org:
    return Org(doc["_id"], doc["name"], doc["level"], doc.get("parent"), tuple(doc["path"]))


async def insert_missing(db: Db, docs: list[dict[str, Any]]) -> None:
    """Insert org documents where missing (the seed tree); never overwrites an editor's changes."""
    ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in docs]
    await db.orgs.bulk_write(ops, ordered=False)


async def get(db: Db, code: str) -> Org | None:
    doc = await db.orgs.find_one({"_id": code})
    return _from_doc(doc) if doc else None


async def get_many(db: Db, codes: list[str] | tuple[str, ...]) -> dict[str, Org]:
    """The orgs among `codes` that exist, by code (one query)."""
    return {d["_id"]: _from_doc(d) async for d in db.orgs.find({"_id": {"$in": list(set(codes))}})}


async def subtree_paths(db: Db, code: str) -> dict[str, tuple[str, ...]]:
    """Every org in the subtree of `code` (itself included): code -> path."""
    return {d["_id"]: tuple(d["path"]) async for d in db.orgs.find({"path": code}, {"path": 1})}


async def names(db: Db, codes: Iterable[str]) -> list[str]:
    """The names of these orgs (e.g. an account's path, for the password policy)."""
    return [str(d["name"]) async for d in db.orgs.find({"_id": {"$in": list(codes)}}, {"name": 1})]


async def subtree_codes(db: Db, code: str) -> list[str]:
    return [d["_id"] async for d in db.orgs.find({"path": code}, {"_id": 1})]


async def children(db: Db, code: str) -> list[Org]:
    return [_from_doc(d) async for d in db.orgs.find({"parent": code}).sort("_id", ASCENDING)]


async def add(db: Db, code: str, name: str, parent_code: str) -> Org:
    parent = await get(db, parent_code)
    if parent is None:
        raise KeyError(parent_code)
    level = LEVELS[min(len(parent.path), len(LEVELS) - 1)]
    doc = {"_id": code, "name": name, "level": level, "parent": parent_code, "path": [*parent.path, code]}
    await db.orgs.insert_one(doc)
    return _from_doc(doc)


def is_within(org_path: tuple[str, ...] | list[str], ancestor_code: str) -> bool:
    """True when the org whose path is given lies in the subtree of `ancestor_code`."""
    return ancestor_code in org_path
