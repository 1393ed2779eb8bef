"""Worker-service centres (职工服务中心) with their location, for "the nearest centres to me".

    centres: {_id, city: "370100", name, address, phone, hours?, loc: {type: Point, coordinates: [lng, lat]}}

Nearest-first ordering uses the `$geoNear` aggregation stage over a 2dsphere index (our
MongoDB-wire server does not sort `$near` results by distance; `$geoNear` is sorted everywhere).
"""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from storage.indexes import ensure_index

Db = AsyncDatabase[dict[str, Any]]


async def ensure_indexes(db: Db) -> None:
    await ensure_index(db.centres, [("loc", "2dsphere")])


async def nearest(db: Db, lat: float, lng: float, limit: int = 3) -> list[dict[str, Any]]:
    """Centres nearest to (lat, lng), each with `distance` in metres."""
    pipeline: list[dict[str, Any]] = [
        {"$geoNear": {"near": {"type": "Point", "coordinates": [lng, lat]}, "distanceField": "distance",
                      "spherical": True, "query": {"enabled": {"$ne": False}}}},
        {"$limit": limit},
    ]  # fmt: skip
    cursor = await db.centres.aggregate(pipeline)
    return [doc async for doc in cursor]


async def seed(db: Db, docs: list[dict[str, Any]]) -> None:
    """Insert where missing: editors' corrections to a seeded centre are kept."""
    ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in docs]
    if ops:
        await db.centres.bulk_write(ops, ordered=False)
