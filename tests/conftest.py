"""Shared fixtures: real Redis and MongoDB-wire servers, the fake WeChat platform, and the app over HTTP.

The embedded servers start once per test process (each xdist worker has its own) with the same
code the service uses; each test gets a fresh Redis (FLUSHALL) and its own MongoDB database.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
from tornado.httpclient import HTTPResponse
from tornado.testing import bind_unused_port

from app import Server, make_app, start_hooks, stop_hooks
from core.config import Settings, parse_settings
from core.deps import Deps, build_deps, close_deps
from core.embedded import start_mongo, start_redis
from seed import seed_all
from services.indexes import ensure_indexes

# Demo credentials: the fake WeChat platform knows these accounts.
OA_APP_ID, OA_SECRET = "wxdemo0000000oa", "demo-oa-secret"
MP_APP_ID, MP_SECRET = "wxdemo0000000mp", "demo-mp-secret"
TOKEN = "test-callback-token"
AES_KEY = "Mg07ILBZw2Jjxrzew1UcCaqrI559N3rxGSWq5L3Ozic"

_db_counter = itertools.count()

Fetch = Callable[..., Awaitable[HTTPResponse]]


# TEST_REDIS=cluster (not SDGH_-prefixed: the service refuses unknown SDGH_ variables, and test
# subprocesses inherit the environment) runs every test against a real Redis Cluster (one master owning every slot,
# Debian's redis-server 7), which refuses a script, transaction or multi-key command whose keys are not
# in one hash slot: the whole suite then checks the key layout (storage/keys.py) the way production would.
REDIS_MODE = os.environ.get("TEST_REDIS", "standalone")


# MongoDB: the replica-set URL (`?replicaSet=secantus`, SecantusDB advertises a one-member set), so every
# test runs what production runs on a replica set: ledgers and write-behind flushes with w=majority,
# replica-set server selection, retryable writes. Test commands (configureFailPoint) let
# tests/durability/test_mongo_election.py stage an election on the suite's own server.
@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real redis-server (or single-node Redis Cluster) and one MongoDB-wire server for this test process."""
    data_dir = tmp_path_factory.mktemp("embedded")

    async def start() -> dict[str, Any]:
        if REDIS_MODE == "cluster":
            from tools.redis_lab import start_cluster

            redis: Any = start_cluster(data_dir / "cluster", masters=1)
        else:
            redis = await start_redis(data_dir)
        try:
            mongo = await start_mongo(data_dir, replica_set=True, test_commands=True)
        except Exception:
            redis.stop()
            raise
        return {"redis": redis, "mongo": mongo}

    started = asyncio.run(start())
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def redis_url(servers: dict[str, Any]) -> str:
    return servers["redis"].url


@pytest.fixture
def mongo_url(servers: dict[str, Any]) -> str:
    return servers["mongo"].url


def make_settings(
    redis_url: str, mongo_url: str, wechat_base: str, data_dir: Path | str = "var/test", **overrides: Any
) -> Settings:
    raw = {
        "data_dir": str(data_dir),
        "server": {"cookie_secret": "test-cookie-secret", "public_url": "http://127.0.0.1:8080"},
        "wechat": {
            "app_id": OA_APP_ID,
            "app_secret": OA_SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "api_base": wechat_base,
            "timeout_seconds": 3,
        },
        "miniprogram": {"app_id": MP_APP_ID, "app_secret": MP_SECRET, "api_base": wechat_base},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": f"t{os.getpid()}_{next(_db_counter)}_{uuid.uuid4().hex[:6]}"},
    }
    return parse_settings(raw, env={}, overrides=overrides)


@pytest.fixture
async def fake_wechat() -> AsyncIterator[Any]:
    """The fake WeChat API platform on a loopback port, fresh for each test."""
    from tools.fake_wechat.server import start_fake_wechat

    server = await start_fake_wechat(port=0)
    yield server
    await server.stop()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its `deps` (dotted keys)."""
    return {}


@pytest.fixture
async def deps(
    redis_url: str, mongo_url: str, fake_wechat: Any, tmp_path: Path, settings_overrides: dict[str, Any]
) -> AsyncIterator[Deps]:
    settings = make_settings(redis_url, mongo_url, fake_wechat.url, tmp_path, **settings_overrides)
    d = build_deps(settings, redis_url=redis_url, mongo_url=mongo_url)
    await d.redis.flushall()
    await ensure_indexes(d.db)
    await seed_all(d.db)
    yield d
    await d.mongo.drop_database(settings.mongo.db)
    await close_deps(d)


@pytest.fixture
async def app_server(deps: Deps) -> AsyncIterator[str]:
    """The whole application on a real loopback HTTP server; yields its base URL."""
    for hook in start_hooks():
        await hook(deps)
    sock, port = bind_unused_port()
    server = Server.for_settings(make_app(deps), deps.settings.server)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}"
    server.stop()
    await server.close_all_connections()
    for stop in stop_hooks():
        await stop(deps)


@pytest.fixture
async def fetch(app_server: str) -> AsyncIterator[Fetch]:
    """fetch("/path", method=..., body=..., headers=...) against the running app; never raises on 4xx/5xx."""
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)

    async def _fetch(path: str, **kwargs: Any) -> HTTPResponse:
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("request_timeout", 30)
        if "body" in kwargs and kwargs.get("method") is None:
            kwargs["method"] = "POST"
        return await client.fetch(app_server + path, **kwargs)

    yield _fetch
    client.close()
