"""Quotas, rate limits and fault injection: the rules that make the fake say "no".

Quotas follow WeChat's documented defaults (see /work/shared/wechat.md "Quotas"). Days and
months are counted in China time (UTC+8, no DST), as WeChat resets quotas at midnight Beijing.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

CHINA = timezone(timedelta(hours=8))

# path -> (daily, per_minute); None = unlimited
DEFAULT_QUOTAS: dict[str, tuple[int | None, int | None]] = {
    "cgi-bin/token": (2_000, None),
    "cgi-bin/stable_token": (500_000, 10_000),
    "cgi-bin/message/custom/send": (500_000, None),
    "cgi-bin/message/template/send": (100_000, None),
    "cgi-bin/message/mass/sendall": (100, 60),
    "cgi-bin/message/mass/send": (100, 60),
    "cgi-bin/message/mass/preview": (100, 60),
    "cgi-bin/user/info": (5_000_000, None),
    "cgi-bin/user/info/batchget": (5_000_000, None),
    "cgi-bin/user/get": (500, None),
    "cgi-bin/menu/create": (1_000, None),
    "cgi-bin/qrcode/create": (100_000, None),
}


def china_day(ts: float) -> int:
    return int((ts + 8 * 3600) // 86400)


def china_month(ts: float) -> tuple[int, int]:
    d = datetime.fromtimestamp(ts, tz=UTC).astimezone(CHINA)
    return d.year, d.month


class Quotas:
    """Per-appid, per-API daily quotas (45009) and per-minute rate limits (45011)."""

    def __init__(self) -> None:
        self.limits: dict[str, tuple[int | None, int | None]] = dict(DEFAULT_QUOTAS)
        self.lifted = False
        self.daily: dict[tuple[str, str], int] = defaultdict(int)
        self.minute: dict[tuple[str, str], int] = defaultdict(int)
        self._day: int | None = None
        self._minute_bucket: int | None = None

    def set(self, path: str, daily: int | None = None, per_minute: int | None = None) -> None:
        self.limits[path] = (daily, per_minute)

    def reset(self) -> None:
        self.daily.clear()
        self.minute.clear()

    def _roll(self, now: float) -> None:
        day = china_day(now)
        if day != self._day:
            self._day = day
            self.daily.clear()
        bucket = int(now // 60)
        if bucket != self._minute_bucket:
            self._minute_bucket = bucket
            self.minute.clear()

    def take(self, appid: str, path: str, now: float) -> int:
        """Count one call; returns 0, or the errcode when the call is over a limit (not counted)."""
        self._roll(now)
        key = (appid, path)
        if not self.lifted:
            daily, per_minute = self.limits.get(path, (None, None))
            if daily is not None and self.daily[key] >= daily:
                return 45009
            if per_minute is not None and self.minute[key] >= per_minute:
                return 45011
        self.daily[key] += 1
        self.minute[key] += 1
        return 0

    def usage(self, appid: str, path: str, now: float) -> dict[str, int]:
        self._roll(now)
        daily = self.limits.get(path, (None, None))[0]
        limit = daily if daily is not None else 10_000_000
        used = self.daily.get((appid, path), 0)
        return {"daily_limit": limit, "used": used, "remain": max(0, limit - used)}


class ExpiringIds:
    """key -> msgid for `window` seconds, bucketed per minute so a million keys stay cheap."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.buckets: dict[int, dict[int, int]] = {}

    def get(self, key: int, now: float) -> int | None:
        oldest = int((now - self.window) // 60)
        for bucket in [b for b in self.buckets if b < oldest]:
            del self.buckets[bucket]
        for ids in self.buckets.values():
            packed = ids.get(key)
            if packed is not None and now - (packed >> 32) < self.window:
                return packed & 0xFFFFFFFF
        return None

    def put(self, key: int, msgid: int, now: float) -> None:
        self.buckets.setdefault(int(now // 60), {})[key] = (int(now) << 32) | (msgid & 0xFFFFFFFF)


@dataclass
class Injection:
    errcode: int
    times: int
    delay: float = 0.0
    invalidate_token: bool | None = None


@dataclass
class HttpInjection:
    status: int
    times: int


@dataclass
class Plan:
    """What happens to one incoming call before the API logic runs."""

    delay: float = 0.0
    errcode: int | None = None
    invalidate_token: bool | None = None
    http_status: int | None = None


class Injector:
    def __init__(self) -> None:
        self.injections: dict[str, deque[Injection]] = defaultdict(deque)
        self.http: dict[str, deque[HttpInjection]] = defaultdict(deque)
        self.delays: dict[str, float] = {}

    def plan(self, path: str) -> Plan:
        plan = Plan(delay=self.delays.get(path, self.delays.get("*", 0.0)))
        for key in (path, "*"):
            queue = self.http.get(key)
            if queue:
                plan.http_status = _consume(queue).status
                return plan
        for key in (path, "*"):
            pending = self.injections.get(key)
            if pending:
                inj = _consume(pending)
                plan.delay += inj.delay
                if inj.errcode != 0:
                    plan.errcode = inj.errcode
                    plan.invalidate_token = inj.invalidate_token
                return plan
        return plan

    def clear(self) -> None:
        self.injections.clear()
        self.http.clear()
        self.delays.clear()


_Item = TypeVar("_Item", Injection, HttpInjection)


def _consume(queue: deque[_Item]) -> _Item:
    item = queue[0]
    item.times -= 1
    if item.times <= 0:
        queue.popleft()
    return item
