"""Operations endpoints: /healthz for the load balancer, /metrics for Prometheus.

/healthz tells an operator (a loopback caller, or one with the metrics token) which process answered
(`instance`, host:pid) and who holds each lease (`leases`, the scheduler leader first): with N
instances, "which one leads?" is a curl, not a log search. Anyone else gets the checks only.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from core.db import ping_mongo, ping_redis
from core.lease import holders, this_process
from handlers.base import BaseHandler, JsonHandler
from scheduler.leader import LEADER_KEY

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
        body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": status}
        if failing:
            body["message"] = f"{'、'.join(failing)} 无法访问"
        if operator_allowed(self) and status["redis"] == "ok":
            body["instance"] = this_process()
            try:
                leases = await asyncio.wait_for(holders(self.deps.redis), CHECK_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - the checks above matter more than this view
                body["leases"] = f"unavailable: {type(exc).__name__}"
            else:
                body["scheduler_leader"] = next((h.owner for h in leases if h.key == LEADER_KEY), None)
                body["leases"] = [{"key": h.key, "owner": h.owner, "ttl_ms": h.ttl_ms} for h in leases]
        self.write_json(body, 200 if healthy else 503)


def operator_allowed(handler: BaseHandler) -> bool:
    """A loopback client, or `Authorization: Bearer <server.metrics_token>` when a token is set."""
    token = handler.deps.settings.server.metrics_token
    if token:
        given = handler.request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(handler.client_ip()).is_loopback
    except ValueError:
        return False


class MetricsHandler(BaseHandler):
    """Prometheus text. It names routes, error rates and traffic: loopback scrapers only, or a bearer token
    (`server.metrics_token`) for a scraper elsewhere. The address is the client's (trusted proxies applied)."""

    def get(self) -> None:
        if not operator_allowed(self):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("403 forbidden: /metrics needs server.metrics_token or a loopback client\n")
            return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.deps.metrics.render())


routes = [
    (r"/healthz", HealthHandler),
    (r"/metrics", MetricsHandler),
]
