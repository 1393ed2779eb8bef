"""What the fake saw (API calls) and what reached users (deliveries).

Both must stay cheap for a million template sends: counters are ints in dicts, call records
live in a bounded deque, and with recording off no per-call object is kept at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass
from typing import Any

DELIVERY_KINDS = ("custom", "template", "subscribe", "mass", "preview")


@dataclass(slots=True, frozen=True)
class CallRecord:
    path: str
    appid: str | None
    method: str
    query: dict[str, str]  # without access_token / secret
    body: Any  # parsed JSON body (None for GET or non-JSON bodies)
    errcode: int | None  # None when an HTTP-level failure was injected
    ts: float
    http_status: int = 200

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self, maxlen: int = 100_000) -> None:
        self.records: deque[CallRecord] = deque(maxlen=maxlen)
        self.counters: Counter[tuple[str, int]] = Counter()
        self.http_failures: Counter[tuple[str, int]] = Counter()
        self.per_app: Counter[tuple[str, str]] = Counter()

    def set_maxlen(self, maxlen: int) -> None:
        self.records = deque(self.records, maxlen=maxlen)

    def calls(self, path: str | None = None) -> list[CallRecord]:
        if path is None:
            return list(self.records)
        path = path.lstrip("/")
        return [r for r in self.records if r.path == path]

    def count(self, path: str | None = None, errcode: int | None = None) -> int:
        norm = path.lstrip("/") if path else None
        return sum(
            n
            for (p, e), n in self.counters.items()
            if (norm is None or p == norm) and (errcode is None or e == errcode)
        )


class Deliveries:
    """kind -> {openid: count}, plus the last payload per openid while recording is on."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {k: {} for k in DELIVERY_KINDS}
        self.last: dict[str, dict[str, Any]] = defaultdict(dict)

    def add(self, kind: str, openid: str, payload: Any = None) -> None:
        bucket = self.counts.setdefault(kind, {})
        bucket[openid] = bucket.get(openid, 0) + 1
        if payload is not None:
            self.last[kind][openid] = payload

    def total(self, kind: str) -> int:
        return sum(self.counts.get(kind, {}).values())

    def distinct(self, kind: str) -> int:
        return len(self.counts.get(kind, {}))

    def duplicates(self, kind: str) -> list[str]:
        return [o for o, n in self.counts.get(kind, {}).items() if n > 1]

    def summary(self) -> dict[str, dict[str, int]]:
        return {k: {"total": self.total(k), "distinct": self.distinct(k)} for k in self.counts}
