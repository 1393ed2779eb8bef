"""Time in one place: every datetime we store or compare carries the Asia/Shanghai zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(TZ)


def from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, TZ)


def localize(dt: datetime) -> datetime:
    """Datetimes read back from MongoDB are UTC (naive or aware); show them in Shanghai time."""
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(TZ)
