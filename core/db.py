"""Connections to Redis and MongoDB: the one place that turns URLs into clients.

Redis comes in three topologies (core/redis_url.py): one server, a master watched by Sentinel, or a
Redis Cluster. Every client we open — redis-py's asyncio client, the auto-pipelining connection of
the hot paths, and the blocking client of APScheduler's job store — is made here from the same
parsed target, so credentials, TLS options and failover handling are the same everywhere.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.sentinel import Sentinel as SyncSentinel

from core.clock import TZ
from core.redis_cluster_pipe import ClusterPipe
from core.redis_pipe import RedisPipe
from core.redis_url import RedisTarget, parse_redis_url

Mongo = AsyncMongoClient[dict[str, Any]]


REDIS_MAX_CONNECTIONS = 512  # per process (per node on a cluster); the embedded server allows 10,000 clients
SENTINEL_TIMEOUT = 2.0  # seconds to ask a sentinel where the master is


def connect_redis(url: str) -> aioredis.Redis:
    """redis-py's asyncio client for `url` (no I/O yet).

    A Cluster client is typed as `Redis`: both offer the same command methods, and callers only use
    commands (a MULTI/EXEC on a cluster needs its keys in one slot: storage/keys.py).
    """
    target = parse_redis_url(url)
    kw = target.connection_kwargs()
    if target.kind == "cluster":
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in target.nodes], decode_responses=True,
            max_connections=REDIS_MAX_CONNECTIONS, health_check_interval=30, **kw,
        )  # fmt: skip
        return cast(aioredis.Redis, cluster)
    if target.kind == "sentinel":
        master = _sentinel(target).master_for(target.service, decode_responses=True, health_check_interval=30, **kw)
        return cast(aioredis.Redis, master)
    # decode_responses: every key and value we keep in Redis is text.
    # A blocking pool: at a peak, a request waits briefly for a connection instead of failing with
    # MaxConnectionsError (redis-py's default pool refuses the 101st concurrent command).
    pool_kw: dict[str, Any] = {"path": target.unix_path} if target.unix_path else {}
    if target.unix_path:
        pool_kw["connection_class"] = aioredis.UnixDomainSocketConnection
        kw = {k: v for k, v in kw.items() if not k.startswith("ssl")}
    else:
        host, port = target.nodes[0]
        pool_kw.update(host=host, port=port)
        if target.tls is not None:
            pool_kw["connection_class"] = aioredis.SSLConnection
            kw.pop("ssl")
    pool = aioredis.BlockingConnectionPool(
        decode_responses=True, health_check_interval=30, max_connections=REDIS_MAX_CONNECTIONS, timeout=10,
        **pool_kw, **kw,
    )  # fmt: skip
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes its connections


def _sentinel(target: RedisTarget) -> Sentinel:
    sentinel_kw: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    if target.sentinel_password:
        sentinel_kw["password"] = target.sentinel_password
    if target.tls is not None:
        sentinel_kw.update(target.tls.redis_kwargs())
    return Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kw)  # type: ignore[no-untyped-call]


def connect_pipe(url: str) -> RedisPipe:
    """The auto-pipelining connection (core/redis_pipe.py) to `url`: a ClusterPipe on a Redis Cluster."""
    target = parse_redis_url(url)
    ssl_context = target.tls.context() if target.tls is not None else None
    options: dict[str, Any] = {"username": target.username, "password": target.password, "db": target.db}
    if target.kind == "cluster":
        return ClusterPipe(target.nodes, options=options, ssl_context=ssl_context)
    if target.unix_path:
        options.update(path=target.unix_path, connection_class=aioredis.UnixDomainSocketConnection)
        return RedisPipe(options=options)
    host, port = target.nodes[0]
    options.update(host=host, port=port)
    if target.kind == "sentinel":
        sentinel = _sentinel(target)

        async def master() -> tuple[str, int]:
            host, port = await sentinel.discover_master(target.service)
            return str(host), int(port)

        return RedisPipe(options=options, ssl_context=ssl_context, resolve=master)
    return RedisPipe(options=options, ssl_context=ssl_context)


class _TransactionalCluster(SyncRedisCluster):
    """A blocking cluster client whose pipelines are MULTI/EXEC, as on one server.

    APScheduler's RedisJobStore calls `pipeline()` then `multi()`: redis-py's cluster pipeline refuses
    `multi()` unless made transactional. Its keys share one hash tag (`{sched}:...`), so the
    transaction is valid on a cluster.
    """

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        return super().pipeline(transaction=True, shard_hint=shard_hint)  # type: ignore[no-untyped-call]

    @property
    def connection_pool(self) -> Any:
        """The job store's shutdown() disconnects `client.connection_pool`: here, every node's."""
        return types.SimpleNamespace(disconnect=self.disconnect_connection_pools)


def connect_redis_sync(url: str, *, socket_timeout: float = 5.0) -> redis.Redis:
    """A blocking client (bytes replies) for APScheduler's synchronous job store."""
    target = parse_redis_url(url)
    kw: dict[str, Any] = {**target.connection_kwargs(), "socket_timeout": socket_timeout}
    if target.kind == "cluster":
        nodes = [SyncClusterNode(h, p) for h, p in target.nodes]  # type: ignore[no-untyped-call]
        return cast(redis.Redis, _TransactionalCluster(startup_nodes=nodes, **kw))
    if target.kind == "sentinel":
        sentinel_kw = {"socket_timeout": SENTINEL_TIMEOUT, "password": target.sentinel_password}
        sentinel = SyncSentinel(list(target.nodes), sentinel_kwargs=sentinel_kw)  # type: ignore[no-untyped-call]
        return cast(redis.Redis, sentinel.master_for(target.service, **kw))  # type: ignore[no-untyped-call]
    if target.unix_path:
        kw = {k: v for k, v in kw.items() if not k.startswith("ssl")}
        return redis.Redis(unix_socket_path=target.unix_path, **kw)
    host, port = target.nodes[0]
    return redis.Redis(host=host, port=port, **kw)


MONGO_SERVER_SELECTION_SECONDS = 5  # how long an operation waits for a (new) primary before it fails: a 503


def connect_mongo(url: str, *, listeners: Sequence[CommandListener] = ()) -> Mongo:
    """pymongo's asyncio client for `url` (a replica-set URL in production: `mongodb://h1,h2,h3/?replicaSet=rs0`).

    - tz_aware + tzinfo: datetimes come back aware, in Asia/Shanghai, like the ones we write.
    - retryWrites / retryReads (pymongo's defaults, stated so that a URL cannot silently turn them off:
      explicit keyword arguments win over the URL's options): a write or read that meets a primary
      stepping down, a dropped connection or a "not primary" answer is sent once more, to the new primary,
      with the same transaction number, and the server applies a write at most once. A short election
      or a network blip is then invisible; a longer one fails the request after
      MONGO_SERVER_SELECTION_SECONDS, which the handlers answer 503 with Retry-After (core/outage.py).
      pymongo retries single-document writes (insert, update_one, find_one_and_*, bulk_write of those);
      update_many / delete_many are never retried: ours are guarded or idempotent, so a failed one is
      simply run again by the caller's next turn or the user's next try.
    - Write concern: the client default (w=1 on a replica set) for ordinary writes; ledgers, content and
      every write-behind flush go through storage/batching.durable() (w="majority", j=True on a replica
      set), so a failover never rolls back what was acknowledged or deleted from Redis.
    - Read preference: primary for everything, except report reads (storage/reads.for_reports).

    `listeners`: pymongo command listeners (what the client sends and gets back), e.g. to observe the
    write concern a ledger write goes out with.
    """
    return AsyncMongoClient(
        url, tz_aware=True, tzinfo=TZ, serverSelectionTimeoutMS=MONGO_SERVER_SELECTION_SECONDS * 1000,
        appname="sdgh", retryWrites=True, retryReads=True, event_listeners=list(listeners),
    )  # fmt: skip


async def ping_redis(client: aioredis.Redis) -> None:
    await client.ping()


async def ping_mongo(client: Mongo) -> None:
    await client.admin.command("ping")
