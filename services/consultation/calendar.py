"""Business calendars: working hours and holidays, and working time between two instants.

Pure functions over a `BusinessCalendar` value (no I/O), so the SLA can be derived from a case's
events and its calendar alone. Times are Asia/Shanghai; a working day is a weekday in
`weekdays` (Monday = 0) that is not a holiday, or a make-up working day (调休) listed in
`extra_workdays`. Its working time is the union of `hours` (minutes since midnight).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from core.clock import TZ, localize

MAX_DAYS = 800  # searching further than this for working time means the calendar has none


@dataclass(frozen=True)
class BusinessCalendar:
    org: str = "370000"  # the org whose calendar this is (inherited ones name the ancestor)
    hours: tuple[tuple[int, int], ...] = ((510, 720), (810, 1050))  # 08:30-12:00, 13:30-17:30
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.hours:
            raise ValueError("a business calendar needs working hours")
        last = -1
        for start, end in self.hours:
            if not 0 <= start < end <= 1440 or start < last:
                raise ValueError("working hours must be ordered, non-overlapping intervals within a day")
            last = end

    @property
    def day_seconds(self) -> int:
        """One working day: the working time of an ordinary working day."""
        return sum(end - start for start, end in self.hours) * 60

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def intervals(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return
        midnight = datetime.combine(day, time(0), TZ)
        for start, end in self.hours:
            yield midnight + timedelta(minutes=start), midnight + timedelta(minutes=end)

    def is_open(self, at: datetime) -> bool:
        at = localize(at)
        return any(s <= at < e for s, e in self.intervals(at.date()))

    def working_seconds(self, start: datetime, end: datetime) -> float:
        """Working time in [start, end)."""
        start, end = localize(start), localize(end)
        if end <= start:
            return 0.0
        total = 0.0
        day = start.date()
        while day <= end.date():
            for s, e in self.intervals(day):
                lo, hi = max(s, start), min(e, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which `seconds` of working time after `start` have passed."""
        start = localize(start)
        left = max(0.0, seconds)
        day = start.date()
        for _ in range(MAX_DAYS):
            for s, e in self.intervals(day):
                lo = max(s, start)
                if e <= lo:
                    continue
                span = (e - lo).total_seconds()
                if left <= span:
                    return lo + timedelta(seconds=left)
                left -= span
            day += timedelta(days=1)
        raise ValueError("the calendar has no working time in the next two years")

    def next_open(self, at: datetime) -> datetime:
        """`at` itself during working hours, else the start of the next working period."""
        return self.add(at, 0.0)


def describe_hours(cal: BusinessCalendar) -> str:
    """ "周一至周五 08:30-12:00、13:30-17:30" for people."""
    names = "一二三四五六日"
    days = sorted(cal.weekdays)
    if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
        when = f"周{names[days[0]]}至周{names[days[-1]]}"
    else:
        when = "、".join(f"周{names[d]}" for d in days)
    spans = "、".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in cal.hours)
    return f"{when} {spans}（法定节假日除外）"
