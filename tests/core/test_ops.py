"""Operations endpoints as a load balancer, Prometheus and an operator use them."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Fetch


async def test_healthz_reports_each_part(fetch: Fetch) -> None:
    resp = await fetch("/healthz")
    assert resp.code == 200
    body = json.loads(resp.body)
    assert (body["status"], body["checks"]) == ("ok", {"redis": "ok", "mongo": "ok"})


async def test_healthz_names_this_instance_the_leader_and_each_lease_owner(fetch: Fetch, deps: Any) -> None:
    import asyncio
    import os
    import socket

    import scheduler
    from scheduler.leader import LEADER_KEY

    runner = deps.get(scheduler.RUNNER)
    for _ in range(100):  # the scheduler campaigns right after start
        if runner.leading:
            break
        await asyncio.sleep(0.05)
    body = json.loads((await fetch("/healthz")).body)  # a loopback caller is an operator
    me = f"{socket.gethostname()}:{os.getpid()}"
    assert body["instance"] == me
    assert body["scheduler_leader"] == me  # host:pid, not the lease's random token
    leader = next(lease for lease in body["leases"] if lease["key"] == LEADER_KEY)
    assert leader["owner"] == me and 0 < leader["ttl_ms"] <= 10_000


async def test_healthz_tells_strangers_only_the_checks(deps: Any, app_server: str) -> None:
    import dataclasses

    import tornado.httpclient

    deps.settings = dataclasses.replace(
        deps.settings, server=dataclasses.replace(deps.settings.server, metrics_token="ops-secret")
    )
    client = tornado.httpclient.AsyncHTTPClient()
    stranger = json.loads((await client.fetch(f"{app_server}/healthz")).body)
    assert stranger == {"status": "ok", "checks": {"redis": "ok", "mongo": "ok"}}
    operator = await client.fetch(f"{app_server}/healthz", headers={"Authorization": "Bearer ops-secret"})
    assert "scheduler_leader" in json.loads(operator.body)


async def test_healthz_503_names_redis_when_it_is_down(fetch: Fetch, deps: Any) -> None:
    # Point this process's client at a port where nothing listens.
    import redis.asyncio as aioredis

    live = deps.redis
    deps.redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        resp = await fetch("/healthz")
    finally:
        await deps.redis.aclose()
        deps.redis = live
    body = json.loads(resp.body)
    assert resp.code == 503
    assert body["checks"]["mongo"] == "ok" and body["checks"]["redis"].startswith("down")
    assert body["message"] == "redis 无法访问"


async def test_metrics_count_requests_by_route(fetch: Fetch) -> None:
    await fetch("/healthz")
    await fetch("/no/such/page")
    text = (await fetch("/metrics")).body.decode()
    assert 'sdgh_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="not_found",status="404"' in text
    assert "sdgh_http_request_seconds_bucket" in text


async def test_unknown_path_is_a_json_404_with_request_id(fetch: Fetch) -> None:
    resp = await fetch("/nope", headers={"X-Request-Id": "abc123"})
    assert resp.code == 404
    assert json.loads(resp.body) == {"code": "not_found", "message": "请求的地址不存在"}
    assert resp.headers["X-Request-Id"] == "abc123"
    generated = await fetch("/nope")
    assert len(generated.headers["X-Request-Id"]) == 16


async def test_every_answer_carries_a_date_and_no_server_version(fetch: Fetch) -> None:
    from email.utils import parsedate_to_datetime
    from time import time

    for path in ("/healthz", "/nope", "/api/openapi.json"):
        resp = await fetch(path)
        assert abs(parsedate_to_datetime(resp.headers["Date"]).timestamp() - time()) < 3, path
        assert "Server" not in resp.headers, path  # which server and version we run is nobody's business


async def test_request_ids_are_unique_and_odd_ones_are_replaced(fetch: Fetch) -> None:
    ids = {(await fetch("/healthz")).headers["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20
    odd = await fetch("/healthz", headers={"X-Request-Id": "<script>" + "x" * 80})
    assert odd.code == 200 and "<" not in odd.headers["X-Request-Id"]
