"""Prometheus metrics, held in one registry object per process (no import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "sdgh_http_requests_total", "HTTP requests by route and status", ["route", "method", "status"], registry=r
        )
        self.http_latency = Histogram(
            "sdgh_http_request_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.wechat_calls = Counter(
            "sdgh_wechat_api_calls_total", "Outbound WeChat API calls", ["api", "errcode"], registry=r
        )
        self.wechat_latency = Histogram(
            "sdgh_wechat_api_seconds", "Outbound WeChat API latency", ["api"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.token_fetches = Counter(
            "sdgh_wechat_token_fetches_total", "access_token fetches from WeChat", ["app_id"], registry=r
        )
        self.wechat_messages = Counter(
            "sdgh_wechat_messages_total", "Messages and events received on /wechat", ["kind", "outcome"], registry=r
        )
        self.push_deliveries = Counter(
            "sdgh_push_deliveries_total", "Push deliveries by channel and outcome", ["channel", "outcome"], registry=r
        )
        self.up = Gauge("sdgh_up", "1 while the service runs", registry=r)
        self.up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
