"""Where a case goes and whose clock it runs on: desks by org and category, calendars along the org path.

A desk belongs to an org (a county's legal desk, a city's, the province's) and takes some
categories (none listed = all). A case goes to the desk nearest the worker's org on the path
from their org up to the province; the province always has a desk (created on first use).
A breach escalates to the nearest desk above the case's desk. Calendars are inherited the same
way: the nearest org on the path with its own calendar, else the built-in province calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.consultation import store
from services.consultation.calendar import BusinessCalendar
from services.orgs.store import PROVINCE_CODE

Db = Any
PROVINCE_DESK = f"{PROVINCE_CODE}-legal"


@dataclass(frozen=True)
class Desk:
    id: str
    org: str
    org_path: tuple[str, ...]
    name: str
    categories: frozenset[str]  # empty: every category

    def takes(self, category: str) -> bool:
        return not self.categories or category in self.categories


def desk_from_doc(doc: dict[str, Any]) -> Desk:
    return Desk(
        str(doc["_id"]), str(doc["org"]), tuple(doc["org_path"]), str(doc.get("name") or doc["_id"]),
        frozenset(doc.get("categories") or ()),
    )  # fmt: skip


def province_desk_doc() -> dict[str, Any]:
    return {"_id": PROVINCE_DESK, "org": PROVINCE_CODE, "org_path": [PROVINCE_CODE], "name": "省总工会法律援助中心",
            "categories": []}  # fmt: skip


async def _nearest(db: Db, path: Sequence[str], category: str) -> Desk | None:
    found = [desk_from_doc(d) for d in await store.desks_on_path(db, path)]
    depth = {code: i for i, code in enumerate(path)}
    found = [d for d in found if d.takes(category)]
    found.sort(key=lambda d: (-depth.get(d.org, -1), d.id))
    return found[0] if found else None


async def route(db: Db, org_path: Sequence[str], category: str) -> Desk:
    """The desk nearest the worker's org that takes this category (the province's at the latest)."""
    path = list(org_path) or [PROVINCE_CODE]
    if path[0] != PROVINCE_CODE:
        path = [PROVINCE_CODE, *path]
    desk = await _nearest(db, path, category)
    if desk is None:
        await store.seed_desk(db, province_desk_doc())
        desk = await _nearest(db, [PROVINCE_CODE], category)
    if desk is None:  # the province desk was narrowed by an editor: use it all the same
        doc = await store.get_desk(db, PROVINCE_DESK)
        desk = desk_from_doc(doc or province_desk_doc())
    return desk


async def parent_desk(db: Db, desk: Desk, category: str) -> Desk | None:
    """Where a breach of `desk` escalates: the nearest desk above its org; None at the province."""
    above = list(desk.org_path[:-1])
    return await _nearest(db, above, category) if above else None


async def get(db: Db, desk_id: str) -> Desk | None:
    doc = await store.get_desk(db, desk_id)
    return desk_from_doc(doc) if doc else None


def calendar_from_doc(doc: dict[str, Any]) -> BusinessCalendar:
    return BusinessCalendar(
        org=str(doc["_id"]),
        hours=tuple((int(s), int(e)) for s, e in doc.get("hours") or ((510, 720), (810, 1050))),
        weekdays=frozenset(int(d) for d in doc.get("weekdays", (0, 1, 2, 3, 4))),
        holidays=frozenset(date.fromisoformat(d) for d in doc.get("holidays") or ()),
        extra_workdays=frozenset(date.fromisoformat(d) for d in doc.get("extra_workdays") or ()),
    )


def calendar_to_doc(cal: BusinessCalendar, org_path: Sequence[str]) -> dict[str, Any]:
    return {
        "_id": cal.org,
        "org_path": list(org_path),
        "hours": [[s, e] for s, e in cal.hours],
        "weekdays": sorted(cal.weekdays),
        "holidays": sorted(d.isoformat() for d in cal.holidays),
        "extra_workdays": sorted(d.isoformat() for d in cal.extra_workdays),
    }


async def calendar_for(db: Db, org_path: Sequence[str]) -> BusinessCalendar:
    """The nearest calendar on the path (an org's own overrides its ancestors'); the default otherwise."""
    docs = {d["_id"]: d for d in await store.calendars_on_path(db, org_path)}
    for code in reversed(list(org_path)):
        if code in docs:
            return calendar_from_doc(docs[code])
    return BusinessCalendar(org=PROVINCE_CODE)


async def calendars_for_desks(db: Db, desks: Sequence[Desk]) -> dict[str, BusinessCalendar]:
    return {d.id: await calendar_for(db, d.org_path) for d in desks}
