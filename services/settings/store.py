"""Org settings in MongoDB: `org_settings` `{_id: org code, values: {field: value}, locks: [key], v}`.

Keys contain dots (`brand.name_suffix`), which MongoDB would read as nested fields: a value is stored
under the key with `:` for `.`, and read back under the key.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]


async def ensure_indexes(db: Db) -> None:
    return None  # looked up by _id only


def _field(key: str) -> str:
    return key.replace(".", ":")


def _decoded(doc: dict[str, Any]) -> dict[str, Any]:
    values = {k.replace(":", "."): v for k, v in (doc.get("values") or {}).items()}
    return {**doc, "values": values}


async def of_orgs(db: Db, codes: list[str]) -> dict[str, dict[str, Any]]:
    return {d["_id"]: _decoded(d) async for d in db.org_settings.find({"_id": {"$in": codes}})}


async def set_value(db: Db, org: str, key: str, value: Any, locked: bool) -> dict[str, Any] | None:
    """Set (value not None) or clear one key and its lock; returns the document as it was before."""
    update: dict[str, Any] = {"$inc": {"v": 1}}
    if value is None:
        update["$unset"] = {f"values.{_field(key)}": ""}
    else:
        update["$set"] = {f"values.{_field(key)}": value}
    update["$addToSet" if locked else "$pull"] = {"locks": key}
    before = await durable(db.org_settings).find_one_and_update(  # an acknowledged setting survives a crash
        {"_id": org}, update, upsert=True
    )
    return _decoded(before) if before else None


async def all_of(db: Db) -> list[dict[str, Any]]:
    return [_decoded(d) async for d in db.org_settings.find({})]
