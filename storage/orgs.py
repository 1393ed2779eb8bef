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

from seed import orgs as seed

Db = AsyncDatabase[dict[str, Any]]

LEVELS = ("province", "city", "county", "township", "enterprise")
LEVEL_NAMES = {"province": "省", "city": "市", "county": "县（区）", "township": "乡镇（街道）", "enterprise": "企业"}
PROVINCE_CODE = seed.PROVINCE[0]


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


def seed_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    pcode, pname = seed.PROVINCE
    docs.append({"_id": pcode, "name": pname, "level": "province", "parent": None, "path": [pcode]})
    for code, name in seed.CITIES.items():
        docs.append({"_id": code, "name": name, "level": "city", "parent": pcode, "path": [pcode, code]})
    paths = {d["_id"]: d["path"] for d in docs}
    for level, table in (("county", seed.COUNTIES), ("township", seed.TOWNSHIPS), ("enterprise", seed.ENTERPRISES)):
        for code, (name, parent) in table.items():
            path = [*paths[parent], code]
            paths[code] = path
            docs.append({"_id": code, "name": name, "level": level, "parent": parent, "path": path})
    return docs


async def seed_orgs(db: Db) -> None:
    """Insert the seed tree where missing; never overwrites an editor's changes."""
    ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in seed_docs()]
    await db.orgs.bulk_write(ops, ordered=False)


async def get(db: Db, code: str) -> Org | None:
    doc = await db.orgs.find_one({"_id": code})
    return _from_doc(doc) if doc else None


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
