"""Three service instances in one test: each its own Deps (clients, caches, background work) and HTTP server,
all on the suite's Redis and MongoDB, as three processes behind a load balancer would be."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import tornado.httpclient
from tornado.testing import bind_unused_port

from app import Server, make_app, start_hooks, stop_hooks
from core.deps import Deps, build_deps, close_deps
from storage import invalidation

POLL_SECONDS = 0.5  # the instances' version poll, short so that the safety net is testable


@dataclass
class Instance:
    name: str
    deps: Deps
    base: str
    http: tornado.httpclient.AsyncHTTPClient

    async def call(self, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = json.dumps(body, ensure_ascii=False) if body is not None else (b"" if method == "POST" else None)
        resp = await self.http.fetch(
            self.base + path, method=method, body=data, headers=headers, raise_error=False, request_timeout=30
        )
        return resp.code, json.loads(resp.body) if resp.body else None

    async def login(self, fake: Any, openid: str) -> str:
        status, body = await self.call("POST", "/api/mp/login", {"code": fake.state.mint_js_code(openid)})
        assert status == 200, body
        return str(body["token"])


@pytest.fixture
async def instances(deps: Deps, redis_url: str, mongo_url: str) -> AsyncIterator[list[Instance]]:
    """A, B and C: started with every start hook (background work included), like `python app.py`."""
    made: list[tuple[Instance, Server]] = []
    for name in "ABC":
        d = build_deps(deps.settings, redis_url=redis_url, mongo_url=mongo_url)
        invalidation.hub(d).poll_seconds = POLL_SECONDS
        for hook in start_hooks():
            await hook(d)
        sock, port = bind_unused_port()
        server = Server.for_settings(make_app(d), d.settings.server)
        server.add_sockets([sock])
        http = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=64)
        made.append((Instance(name, d, f"http://127.0.0.1:{port}", http), server))
    for inst, _ in made:  # every watcher listens before the test changes anything
        await invalidation.hub(inst.deps).subscribed.wait()
    yield [inst for inst, _ in made]
    for inst, server in made:
        server.stop()
        await server.close_all_connections()
        inst.http.close()
        for stop in stop_hooks():
            await stop(inst.deps)
        await close_deps(inst.deps)
