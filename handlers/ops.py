"""Operations endpoints: /healthz for the load balancer, /metrics for Prometheus."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST

from core.db import ping_mongo, ping_redis
from handlers.base import BaseHandler, JsonHandler

CHECK_TIMEOUT = 2.0


class HealthHandler(JsonHandler):
    async def get(self) -> None:
        checks = {"redis": ping_redis(self.deps.redis), "mongo": ping_mongo(self.deps.mongo)}
        status: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check, CHECK_TIMEOUT)
                status[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means this part is down
                status[name] = f"down: {type(exc).__name__}"
        healthy = all(v == "ok" for v in status.values())
        failing = [k for k, v in status.items() if v != "ok"]
        body = {"status": "ok" if healthy else "unavailable", "checks": status}
        if failing:
            body["message"] = f"{'、'.join(failing)} 无法访问"
        self.write_json(body, 200 if healthy else 503)


class MetricsHandler(BaseHandler):
    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.deps.metrics.render())


routes = [
    (r"/healthz", HealthHandler),
    (r"/metrics", MetricsHandler),
]
