"""Editors configure consultation: desks per org, business calendars per org, and read the SLA report.

An editor changes desks and calendars of orgs in their subtree only; every change is audited
with before and after. A calendar left unset is inherited from the nearest ancestor that has one
(the province's by default); removing an org's calendar returns it to the inherited one.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from core.clock import TZ, now
from core.deps import Deps
from core.errors import BadInput
from services.consultation import desks, store
from services.consultation.calendar import BusinessCalendar
from services.consultation.model import CATEGORIES
from services.consultation.sla import CaseFacts, ReportRow, report
from services.consultation.timers import events_of
from services.editors import audit
from services.editors.scope import Scope

DESK_ID = re.compile(r"^[a-z0-9-]{3,40}$")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")


async def list_desks(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    return await store.desks_in(deps.db, scope.root)


async def save_desk(deps: Deps, scope: Scope, data: dict[str, Any]) -> dict[str, Any]:
    scope.require_write()
    org = await scope.owner(deps.db, data.get("org") or scope.org)
    name = str(data.get("name") or "").strip()
    if not 2 <= len(name) <= 40:
        raise BadInput("请填写咨询台名称（2 到 40 个字）", code="invalid_name")
    cats = [c for c in data.get("categories") or [] if c]
    if any(c not in CATEGORIES for c in cats):
        raise BadInput("咨询类别不正确", code="invalid_category")
    desk_id = str(data.get("id") or f"{org.code}-legal")
    if not DESK_ID.fullmatch(desk_id):
        raise BadInput("咨询台编号只能包含小写字母、数字和 -", code="invalid_id")
    existing = await store.get_desk(deps.db, desk_id)
    if existing is not None:
        scope.check(existing.get("org_path"), "咨询台")
    doc = {"_id": desk_id, "org": org.code, "org_path": list(org.path), "name": name, "categories": cats,
           "updated_at": now(), "updated_by": scope.editor.username}  # fmt: skip
    before = await store.put_desk(deps.db, doc)
    await audit.record(deps.db, scope.editor, "update" if before else "create", "consult_desk", desk_id,
                       org.path, summary=f"咨询台“{name}”", before=before, after=doc, ip=scope.ip)  # fmt: skip
    return doc


def parse_calendar(org: str, data: dict[str, Any]) -> BusinessCalendar:
    """Form fields: hours "08:30-12:00, 13:30-17:30", weekdays [0..6], holidays / extra_workdays as dates."""
    hours = []
    for part in re.split(r"[,，、\s]+", str(data.get("hours") or "").strip()):
        if not part:
            continue
        m = HHMM.fullmatch(part)
        if m is None:
            raise BadInput(f"工作时间“{part}”格式不正确，例如 08:30-12:00", code="invalid_hours")
        hours.append((int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])))
    try:
        weekdays = frozenset(int(d) for d in data.get("weekdays") or ())
        holidays = frozenset(_dates(data.get("holidays")))
        extra = frozenset(_dates(data.get("extra_workdays")))
    except ValueError:
        raise BadInput("日期格式不正确，例如 2026-10-01", code="invalid_dates") from None
    if not weekdays <= set(range(7)) or not weekdays and not extra:
        raise BadInput("请选择工作日", code="invalid_weekdays")
    try:
        return BusinessCalendar(org, tuple(hours), weekdays, holidays, extra)
    except ValueError:
        raise BadInput(
            "工作时间须按先后顺序填写、互不重叠，例如 08:30-12:00, 13:30-17:30", code="invalid_hours"
        ) from None


def _dates(value: Any) -> list[date]:
    items = value if isinstance(value, list) else re.split(r"[,，、\s]+", str(value or "").strip())
    return [date.fromisoformat(str(v)) for v in items if str(v).strip()]


async def calendar_of_org(deps: Deps, scope: Scope, org_code: str) -> tuple[BusinessCalendar, bool]:
    """(the calendar in force for the org, whether it is the org's own)."""
    org = await scope.owner(deps.db, org_code)
    cal = await desks.calendar_for(deps.db, org.path)
    return cal, cal.org == org.code


async def save_calendar(deps: Deps, scope: Scope, org_code: str, data: dict[str, Any]) -> BusinessCalendar:
    scope.require_write()
    org = await scope.owner(deps.db, org_code)
    cal = parse_calendar(org.code, data)
    doc = desks.calendar_to_doc(cal, org.path)
    before = await store.put_calendar(deps.db, doc)
    await audit.record(deps.db, scope.editor, "update" if before else "create", "consult_calendar", org.code,
                       org.path, summary="工作时间与节假日", before=before, after=doc, ip=scope.ip)  # fmt: skip
    return cal


async def inherit_calendar(deps: Deps, scope: Scope, org_code: str) -> None:
    scope.require_write()
    org = await scope.owner(deps.db, org_code)
    before = await store.delete_calendar(deps.db, org.code)
    if before is not None:
        await audit.record(deps.db, scope.editor, "delete", "consult_calendar", org.code, org.path,
                           summary="恢复继承上级工作时间", before=before, ip=scope.ip)  # fmt: skip


async def sla_report(
    deps: Deps, scope: Scope, since: datetime, until: datetime, at: datetime | None = None
) -> list[ReportRow]:
    """First-reply SLA per desk and category for cases opened in [since, until), derived from events."""
    desk_docs = await store.desks_in(deps.db, scope.root)
    found = [desks.desk_from_doc(d) for d in desk_docs]
    cals = await desks.calendars_for_desks(deps.db, found)
    facts = [
        CaseFacts(d["_id"], d["category"], d["desk"], tuple(events_of(d)))
        for d in await store.in_desks(deps.db, [x.id for x in found], since, until)
    ]
    rows = report(facts, cals, at or now())
    return [rows[k] for k in sorted(rows)]


def month_range(month: str) -> tuple[datetime, datetime]:
    """ "2026-11" -> [Nov 1, Dec 1) in Shanghai time."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=TZ)
    except ValueError:
        raise BadInput("月份格式不正确，例如 2026-11", code="invalid_month") from None
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end
