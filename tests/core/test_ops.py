"""Operations endpoints as a load balancer, Prometheus and an operator use them."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Fetch


async def test_healthz_reports_each_part(fetch: Fetch) -> None:
    resp = await fetch("/healthz")
    assert resp.code == 200
    assert json.loads(resp.body) == {"status": "ok", "checks": {"redis": "ok", "mongo": "ok"}}


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
