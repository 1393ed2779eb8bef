"""A case's SLA as views and jobs need it: derived from its events and its desk's calendar.

`due_at` on the document is only an index for the escalation job to find candidates; the job
and every view re-derive the SLA from the events before acting or showing anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.consultation import desks
from services.consultation.calendar import BusinessCalendar
from services.consultation.model import Event
from services.consultation.sla import SlaState, derive


def events_of(doc: dict[str, Any]) -> list[Event]:
    return [Event.from_doc(e) for e in doc.get("events") or ()]


async def calendar_of(db: Any, doc: dict[str, Any]) -> BusinessCalendar:
    return await desks.calendar_for(db, doc.get("desk_path") or ())


def sla_of(doc: dict[str, Any], cal: BusinessCalendar, now: datetime) -> SlaState:
    return derive(events_of(doc), str(doc["category"]), cal, now)


def due_at(state: SlaState) -> datetime | None:
    cur = state.current
    return cur.due_at if cur is not None else None


def timer(state: SlaState, now: datetime) -> dict[str, Any]:
    """What a queue shows: due time, working minutes left (negative = overdue), paused, breached."""
    cur = state.current
    if cur is None:
        return {"running": False, "paused": False, "breached": False, "due_at": None, "minutes_left": None}
    return {
        "running": not cur.paused,
        "paused": cur.paused,
        "breached": cur.breached,
        "due_at": cur.due_at,
        "minutes_left": round(cur.remaining / 60),
        "first": cur.first,
    }
