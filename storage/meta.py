"""Service metadata: start-up records, used by operations and by the restart tests."""

from __future__ import annotations

import os
import socket
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import now


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db.boots.create_index([("at", DESCENDING)])


async def record_boot(db: AsyncDatabase[dict[str, Any]], version: str) -> None:
    await db.boots.insert_one({"at": now(), "host": socket.gethostname(), "pid": os.getpid(), "version": version})


async def boot_count(db: AsyncDatabase[dict[str, Any]]) -> int:
    return await db.boots.count_documents({})
