"""公示 periods in working days: weekends skipped (public holidays are not modelled)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from core.clock import TZ


def add_working_days(start: datetime, days: int) -> datetime:
    """The moment a period of `days` full working days, starting the day after `start`, ends.

    The period ends at midnight (Asia/Shanghai) after its last working day, so a 公示 published on a
    Friday afternoon with 5 days runs Monday to Friday of the next week and closes at Saturday 00:00.
    """
    day = start.astimezone(TZ).date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day + timedelta(days=1), time(0), TZ)


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days strictly after `start`'s day up to and including the day before `end` (midnight)."""
    day, last, n = start.astimezone(TZ).date(), (end.astimezone(TZ) - timedelta(seconds=1)).date(), 0
    while day < last:
        day += timedelta(days=1)
        n += day.weekday() < 5
    return n
