"""Connections to Redis and MongoDB: the one place that turns URLs into clients."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from pymongo import AsyncMongoClient

from core.clock import TZ

Mongo = AsyncMongoClient[dict[str, Any]]


REDIS_MAX_CONNECTIONS = 512  # per process; the embedded server allows 10,000 clients


def connect_redis(url: str) -> aioredis.Redis:
    # decode_responses: every key and value we keep in Redis is text.
    # A blocking pool: at a peak, a request waits briefly for a connection instead of failing with
    # MaxConnectionsError (redis-py's default pool refuses the 101st concurrent command).
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, health_check_interval=30, max_connections=REDIS_MAX_CONNECTIONS, timeout=10
    )
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes its connections


def connect_mongo(url: str) -> Mongo:
    # tz_aware + tzinfo: datetimes come back aware, in Asia/Shanghai, like the ones we write.
    return AsyncMongoClient(url, tz_aware=True, tzinfo=TZ, serverSelectionTimeoutMS=5000, appname="sdgh")


async def ping_redis(client: aioredis.Redis) -> None:
    await client.ping()


async def ping_mongo(client: Mongo) -> None:
    await client.admin.command("ping")
