"""A simulated month of consultation work, and an SLA reference computed independently of the service.

The reference does not use `services.consultation.calendar` or `sla`: each desk's calendar is a
minute-by-minute table of "open" flags with a prefix sum, so the working minutes between two
instants are one subtraction. Arrivals replay a fixed daily profile (per hour, weekday/weekend/
holiday factors) with a seeded generator; staff work only in their desk's working minutes and
always take the case due soonest.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from core.clock import TZ

START = datetime(2026, 9, 28, tzinfo=TZ)  # simulation clock 0 (a Monday before the month)
MONTH = (datetime(2026, 10, 1, tzinfo=TZ), datetime(2026, 11, 1, tzinfo=TZ))
END = datetime(2026, 11, 20, tzinfo=TZ)  # long enough for every October case to be answered
HOLIDAYS = frozenset(date(2026, 10, d) for d in range(1, 8))  # National Day
MAKEUP = frozenset({date(2026, 10, 10)})  # a Saturday worked instead
PROVINCE_HOURS = ((510, 720), (810, 1050))  # 08:30-12:00, 13:30-17:30
CITY_HOURS = ((540, 720), (780, 1020))  # 09:00-12:00, 13:00-17:00 (the city's own calendar)
# (desk id, org path, hours, staff on duty, categories)
DESKS = (
    ("370102-legal", ("370000", "370100", "370102"), CITY_HOURS, 3, ("wage", "injury")),
    ("370100-legal", ("370000", "370100"), CITY_HOURS, 4, ("wage", "injury", "contract", "insurance", "other")),
    ("370000-legal", ("370000",), PROVINCE_HOURS, 3, ("wage", "injury", "contract", "insurance", "other")),
)
CATEGORY_MIX = (("wage", 35), ("injury", 15), ("contract", 25), ("insurance", 15), ("other", 10))
URGENT = {"wage", "injury"}
# Arrivals per hour of an ordinary working day (a recorded day's shape), scaled to the month's total.
HOURLY = (1, 0, 0, 0, 0, 1, 2, 4, 8, 12, 12, 9, 6, 8, 10, 10, 8, 6, 6, 7, 6, 4, 3, 2)
DAY_FACTOR = {"work": 1.0, "weekend": 0.35, "holiday": 0.3}
MINUTES = int((END - START).total_seconds() // 60)


def day_kind(d: date) -> str:
    if d in MAKEUP:
        return "work"
    if d in HOLIDAYS:
        return "holiday"
    return "work" if d.weekday() < 5 else "weekend"


@cache
def open_table(hours: tuple[tuple[int, int], ...]) -> tuple[list[bool], list[int]]:
    """Minute m is open iff its day is a working day and its minute of day lies in `hours`."""
    working_day = [any(s <= mod < e for s, e in hours) for mod in range(1440)]
    closed_day = [False] * 1440
    is_open: list[bool] = []
    for d in range(MINUTES // 1440):
        day = (START + timedelta(days=d)).date()
        is_open += working_day if day_kind(day) == "work" else closed_day
    prefix = [0]
    for flag in is_open:
        prefix.append(prefix[-1] + flag)
    return is_open, prefix


def minute_of(at: datetime) -> int:
    return int((at - START).total_seconds() // 60)


@dataclass
class SimCase:
    id: str
    desk: str
    category: str
    opened: int
    events: list[tuple[str, int]] = field(default_factory=list)
    used: int = 0  # working minutes before the current run of the clock
    running_from: int = 0


def arrivals(total: int, seed: int = 2026) -> list[tuple[int, str, str]]:
    """(minute, desk, category) for `total` cases opened in October, replaying the daily profile."""
    rng = random.Random(seed)
    slots, weights = [], []
    m0, m1 = minute_of(MONTH[0]), minute_of(MONTH[1])
    for m in range(m0, m1, 60):
        at = START + timedelta(minutes=m)
        slots.append(m)
        weights.append(HOURLY[at.hour] * DAY_FACTOR[day_kind(at.date())])
    cats, cat_w = zip(*CATEGORY_MIX, strict=True)
    out = []
    for hour in rng.choices(slots, weights, k=total):
        category = rng.choices(cats, cat_w)[0]
        takers = [d[0] for d in DESKS if category in d[4]]
        out.append((hour + rng.randrange(60), rng.choice(takers), category))
    return sorted(out)


def simulate(total: int, seed: int = 2026) -> list[SimCase]:
    """Staff on a schedule answer the month's cases; 10 % are paused once to wait for the worker."""
    rng = random.Random(seed + 1)
    tables = {d[0]: open_table(d[2]) for d in DESKS}
    staff = {d[0]: d[3] for d in DESKS}
    cases = [SimCase(f"{i:06d}SIM{i % 10}", desk, cat, m) for i, (m, desk, cat) in enumerate(arrivals(total, seed))]
    incoming: dict[int, list[SimCase]] = {}
    for c in cases:
        c.events.append(("opened", c.opened))
        c.running_from = c.opened
        incoming.setdefault(c.opened, []).append(c)
    queues: dict[str, list[tuple[int, int, SimCase]]] = {d[0]: [] for d in DESKS}
    busy: dict[str, list[tuple[SimCase, int, str]]] = {d[0]: [] for d in DESKS}  # case, minutes left, action
    seq = 0

    def due(c: SimCase) -> int:
        _, prefix = tables[c.desk]
        target = 120 if c.category in URGENT else sum(e - s for s, e in (DESKS_BY_ID[c.desk][2]))
        return bisect_left(prefix, prefix[c.running_from] + (target - c.used))

    for minute in range(MINUTES):
        for c in incoming.pop(minute, ()):
            seq += 1
            heapq.heappush(queues[c.desk], (due(c), seq, c))
        for desk, (is_open, prefix) in tables.items():
            if not is_open[minute]:
                continue
            still = []
            for c, left, action in busy[desk]:
                if left > 1:
                    still.append((c, left - 1, action))
                    continue
                c.events.append((action, minute + 1))
                if action == "wait":
                    c.used += prefix[minute + 1] - prefix[c.running_from]
                    back = minute + 1 + rng.randrange(30, 900)
                    c.running_from = back
                    c.events.append(("worker", back))
                    incoming.setdefault(back, []).append(c)
                else:
                    c.events.append(("resolved", minute + 1 + rng.randrange(60, 4000)))
            busy[desk] = still
            while len(busy[desk]) < staff[desk] and queues[desk]:
                _, _, c = heapq.heappop(queues[desk])
                if not any(k == "claimed" for k, _ in c.events):
                    c.events.append(("claimed", minute))
                paused_before = any(k == "wait" for k, _ in c.events)
                action = "wait" if not paused_before and rng.random() < 0.1 else "reply"
                busy[desk].append((c, 5 if action == "wait" else rng.randrange(8, 21), action))
    return cases


DESKS_BY_ID = {d[0]: d for d in DESKS}


def reference_first_reply(c: SimCase, prefix: list[int], day_minutes: int) -> tuple[int, bool] | None:
    """(working minutes to the first reply, within target) from the prefix table; None if unanswered."""
    used, running = 0, None
    for kind, m in sorted(c.events, key=lambda e: e[1]):
        if kind == "opened":
            running = m
        elif kind == "wait" and running is not None:
            used += prefix[m] - prefix[running]
            running = None
        elif kind == "worker" and running is None:
            running = m
        elif kind in ("reply", "resolved") and running is not None:
            used += prefix[m] - prefix[running]
            target = 120 if c.category in URGENT else day_minutes
            return used, used <= target
    return None
