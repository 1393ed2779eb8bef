"""Counts for the union's editors: per org and month, never fewer than K = 5 people behind a number.

A report groups the bookings of members in the working org's subtree by the org one level down
(the working org's own members form the row "本级") and by the month of the session. A cell shows
how many people booked, how many sessions took place or were booked, cancelled and missed, or
nothing at all when fewer than 5 people are behind it (k-anonymity). Because each month's total is
shown too, suppressing small cells alone would let anyone subtract: within a month, more cells are
suppressed (smallest first) until the suppressed cells together cover at least 5 people, and the
total itself is suppressed when it covers fewer than 5. Editors never see a booking, a topic or a name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.clock import TZ, localize, now
from core.deps import Deps
from core.errors import BadInput
from services.counselling import store
from services.editors.scope import Scope, org_names

K = 5
HELD = ("confirmed", "attended", "pending_approval")
CANCELLED = ("cancelled", "late_cancelled", "rejected")
OWN_ROW = "本级"


@dataclass(frozen=True)
class Record:
    member: str
    org_path: tuple[str, ...]
    month: str
    status: str


@dataclass
class Cell:
    people: set[str] = field(default_factory=set)
    sessions: int = 0
    cancelled: int = 0
    no_shows: int = 0

    def add(self, r: Record) -> None:
        self.people.add(r.member)
        if r.status in HELD:
            self.sessions += 1
        elif r.status in CANCELLED:
            self.cancelled += 1
        elif r.status == "no_show":
            self.no_shows += 1

    def shown(self) -> dict[str, int]:
        return {
            "people": len(self.people),
            "sessions": self.sessions,
            "cancelled": self.cancelled,
            "no_shows": self.no_shows,
        }


def group_of(org_path: tuple[str, ...], org: str) -> str | None:
    """The row a member's org falls in: the org one level below `org`, or OWN_ROW; None outside `org`."""
    if org not in org_path:
        return None
    i = org_path.index(org)
    return org_path[i + 1] if i + 1 < len(org_path) else OWN_ROW


def build(records: Iterable[Record], org: str, months: list[str], k: int = K) -> dict[str, Any]:
    cells: dict[tuple[str, str], Cell] = {}
    totals: dict[str, Cell] = {m: Cell() for m in months}
    for r in records:
        group = group_of(r.org_path, org)
        if group is None or r.month not in totals:
            continue
        cells.setdefault((group, r.month), Cell()).add(r)
        totals[r.month].add(r)
    groups = sorted({g for g, _ in cells}, key=lambda g: (g != OWN_ROW, g))
    shown: dict[tuple[str, str], dict[str, int] | None] = {}
    shown_totals: dict[str, dict[str, int] | None] = {}
    for month in months:
        column = {g: cells[(g, month)] for g in groups if (g, month) in cells}
        hidden = {g for g, c in column.items() if len(c.people) < k}
        if hidden:
            # Secondary suppression: the hidden cells together must cover k people, or the total
            # minus the shown cells would give a number about fewer than k people.
            rest = sorted((g for g in column if g not in hidden), key=lambda g: len(column[g].people))
            while rest and sum(len(column[g].people) for g in hidden) < k:
                hidden.add(rest.pop(0))
        for g, c in column.items():
            shown[(g, month)] = None if g in hidden else c.shown()
        total = totals[month]
        shown_totals[month] = total.shown() if len(total.people) >= k else None
        if not total.people:
            shown_totals[month] = total.shown()  # nobody: zero reveals no one
    rows = [{"org": g, "cells": {m: shown.get((g, m), _EMPTY) for m in months}} for g in groups]
    return {"k": k, "months": months, "rows": rows, "totals": shown_totals}


_EMPTY = {"people": 0, "sessions": 0, "cancelled": 0, "no_shows": 0}


def month_range(first: str, last: str) -> list[str]:
    try:
        start = datetime.strptime(first, "%Y-%m").replace(tzinfo=TZ)
        stop = datetime.strptime(last, "%Y-%m").replace(tzinfo=TZ)
    except ValueError:
        raise BadInput("月份格式应为 YYYY-MM", code="month") from None
    months: list[str] = []
    at = start
    while at <= stop and len(months) <= 12:
        months.append(at.strftime("%Y-%m"))
        at = (at + timedelta(days=32)).replace(day=1)
    if not months or len(months) > 12:
        raise BadInput("请选择 1 到 12 个月", code="month")
    return months


def last_months(n: int = 6) -> list[str]:
    at = now().replace(day=1)
    out = []
    for _ in range(n):
        out.append(at.strftime("%Y-%m"))
        at = (at - timedelta(days=1)).replace(day=1)
    return sorted(out)


async def report(deps: Deps, scope: Scope, months: list[str] | None = None) -> dict[str, Any]:
    """The working org's report (any editor role of the subtree; counsellors have their own desk)."""
    months = months or last_months()
    since = datetime.strptime(months[0], "%Y-%m").replace(tzinfo=TZ)
    until = (datetime.strptime(months[-1], "%Y-%m").replace(tzinfo=TZ) + timedelta(days=32)).replace(day=1)
    records = [
        Record(d["member"], tuple(d["member_org_path"]), localize(d["starts_at"]).strftime("%Y-%m"), d["status"])
        async for d in store.report_source(deps.db, scope.org, since, until)
    ]
    out = build(records, scope.org, months)
    names = await org_names(deps.db, [r["org"] for r in out["rows"] if r["org"] != OWN_ROW])
    for row in out["rows"]:
        row["name"] = names.get(row["org"], row["org"]) if row["org"] != OWN_ROW else OWN_ROW
    return out
