"""Operations endpoints: /healthz for the load balancer, /metrics for Prometheus."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

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
    """Prometheus text. It names routes, error rates and traffic: loopback scrapers only, or a bearer token
    (`server.metrics_token`) for a scraper elsewhere. The address is the client's (trusted proxies applied)."""

    def get(self) -> None:
        if not self._allowed():
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("403 forbidden: /metrics needs server.metrics_token or a loopback client\n")
            return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.deps.metrics.render())

    def _allowed(self) -> bool:
        token = self.deps.settings.server.metrics_token
        if token:
            given = self.request.headers.get("Authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
        try:
            return ipaddress.ip_address(self.client_ip()).is_loopback
        except ValueError:
            return False


routes = [
    (r"/healthz", HealthHandler),
    (r"/metrics", MetricsHandler),
]
