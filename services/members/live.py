"""The roster's Redis side: import reports kept for an hour (`console:import:<editor>:<id>`)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis


def _key(username: str, report_id: str) -> str:
    return f"console:import:{username}:{report_id}"


async def save_import_report(redis: aioredis.Redis, username: str, report: dict[str, Any], ttl: int) -> None:
    await redis.set(_key(username, report["id"]), json.dumps(report, ensure_ascii=False), ex=ttl)


async def import_report(redis: aioredis.Redis, username: str, report_id: str) -> dict[str, Any] | None:
    raw = await redis.get(_key(username, report_id))
    return None if raw is None else dict(json.loads(raw))
