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
