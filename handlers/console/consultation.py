"""惠工咨询 / 法律援助 in the console: queues with timers, a case page with the reply box, desks, calendars, reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from services.consultation import admin, answering
from services.consultation.calendar import describe_hours
from services.consultation.model import CATEGORIES, STATES
from services.consultation.sla import ReportRow

CASE = r"(?P<case_id>[0-9A-Za-z]{6,24})"
ORG = r"(?P<org>[0-9]{6,12})"
ACTIONS = ("reply", "ask", "wait", "resolved", "referred")
WEEKDAYS = "一二三四五六日"


def _row(r: ReportRow) -> dict[str, Any]:
    return {
        "desk": r.desk, "category": r.category, "category_name": CATEGORIES.get(r.category, r.category),
        "cases": r.cases, "first_replied": r.first_replied, "first_within": r.first_within,
        "first_breached": r.first_breached, "waiting": r.waiting, "within_pct": round(r.within_pct, 1),
        "mean_minutes": round(r.mean_minutes, 1),
    }  # fmt: skip


def _month(value: str) -> tuple[str, datetime, datetime]:
    month = value or now().strftime("%Y-%m")
    since, until = admin.month_range(month)
    return month, since, until


class QueuePage(ConsolePage):
    nav: ClassVar[str] = "consult"

    async def get(self) -> None:
        desk = self.get_query_argument("desk", "")
        rows = await answering.queue(self.deps, self.scope, desk)
        desk_list = await admin.list_desks(self.deps, self.scope)
        await self.render_page("console/consult_queue.html", cases=rows, states=STATES, desks=desk_list, desk=desk)


class CasePage(ConsolePage):
    nav: ClassVar[str] = "consult"

    async def _show(self, case_id: str, error: str = "", status: int = 200) -> None:
        case = await answering.staff_view(self.deps, self.scope, case_id)
        await self.render_page("console/consult_case.html", status=status, case=case, error=error)

    async def get(self, case_id: str) -> None:
        await self._show(case_id)

    async def post(self, case_id: str) -> None:
        form = self.form()
        action = form.get("action", "")
        try:
            if action == "claim":
                await answering.claim(self.deps, self.scope, case_id)
            elif action == "release":
                await answering.release(self.deps, self.scope, case_id)
            else:
                await answering.act(self.deps, self.scope, case_id, action, form.get("text", ""))
        except ServiceError as exc:
            if exc.status == 404:
                raise
            await self._show(case_id, exc.message, exc.status)
            return
        self.flash("已保存")
        self.redirect(f"/admin/consult/cases/{case_id}", status=303)


class DesksPage(ConsolePage):
    nav: ClassVar[str] = "consult_desks"

    async def _show(self, error: str = "", status: int = 200) -> None:
        desks = await admin.list_desks(self.deps, self.scope)
        cal, own = await admin.calendar_of_org(self.deps, self.scope, self.scope.org)
        await self.render_page(
            "console/consult_desks.html", status=status, desks=desks, categories=CATEGORIES, error=error,
            cal=cal, own=own, hours=describe_hours(cal), weekday_names=WEEKDAYS,
        )  # fmt: skip

    async def get(self) -> None:
        await self._show()

    async def post(self) -> None:
        form = self.form()
        try:
            if form.get("kind") == "calendar":
                if form.get("inherit") == "1":
                    await admin.inherit_calendar(self.deps, self.scope, self.scope.org)
                else:
                    data = {**form, "weekdays": self.get_body_arguments("weekdays")}
                    await admin.save_calendar(self.deps, self.scope, self.scope.org, data)
            else:
                data = {**form, "categories": self.get_body_arguments("categories")}
                await admin.save_desk(self.deps, self.scope, data)
        except ServiceError as exc:
            await self._show(exc.message, exc.status)
            return
        self.flash("已保存")
        self.redirect("/admin/consult/desks", status=303)


class ReportPage(ConsolePage):
    nav: ClassVar[str] = "consult_report"

    async def get(self) -> None:
        month, since, until = _month(self.get_query_argument("month", ""))
        rows = [_row(r) for r in await admin.sla_report(self.deps, self.scope, since, until)]
        await self.render_page("console/consult_report.html", report=rows, month=month)


# --- JSON ----------------------------------------------------------------------------------------
class QueueApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await answering.queue(self.deps, self.scope, self.get_query_argument("desk", ""))})


class CaseApi(ConsoleApi):
    async def get(self, case_id: str) -> None:
        self.write_json(await answering.staff_view(self.deps, self.scope, case_id))


class ClaimApi(ConsoleApi):
    async def post(self, case_id: str) -> None:
        await answering.claim(self.deps, self.scope, case_id)
        self.write_json(await answering.staff_view(self.deps, self.scope, case_id))


class ActApi(ConsoleApi):
    async def post(self, case_id: str) -> None:
        data = self.json_body()
        action = data.get("action") if isinstance(data, dict) else None
        if action not in ACTIONS:
            raise BadInput("action 只能是 " + "、".join(ACTIONS), code="invalid_action")
        done = await answering.act(self.deps, self.scope, case_id, str(action), str(data.get("text") or ""))
        self.write_json({"case": await answering.staff_view(self.deps, self.scope, case_id),
                         "delivery": done["delivery"]})  # fmt: skip


class ReleaseApi(ConsoleApi):
    async def post(self, case_id: str) -> None:
        await answering.release(self.deps, self.scope, case_id)
        self.write_json(await answering.staff_view(self.deps, self.scope, case_id))


class DesksApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await admin.list_desks(self.deps, self.scope)})

    async def put(self) -> None:
        data = self.json_body()
        if not isinstance(data, dict):
            raise BadInput("请求应为 JSON 对象", code="invalid_json")
        self.write_json(await admin.save_desk(self.deps, self.scope, data))


class CalendarApi(ConsoleApi):
    async def get(self, org: str) -> None:
        cal, own = await admin.calendar_of_org(self.deps, self.scope, org)
        self.write_json({"org": org, "from_org": cal.org, "own": own, "hours": describe_hours(cal),
                         "day_minutes": cal.day_seconds // 60,
                         "holidays": sorted(d.isoformat() for d in cal.holidays)})  # fmt: skip

    async def put(self, org: str) -> None:
        data = self.json_body()
        if not isinstance(data, dict):
            raise BadInput("请求应为 JSON 对象", code="invalid_json")
        cal = await admin.save_calendar(self.deps, self.scope, org, data)
        self.write_json({"org": org, "hours": describe_hours(cal), "day_minutes": cal.day_seconds // 60})

    async def delete(self, org: str) -> None:
        await admin.inherit_calendar(self.deps, self.scope, org)
        self.write_json({"org": org, "own": False})


class ReportApi(ConsoleApi):
    async def get(self) -> None:
        month, since, until = _month(self.get_query_argument("month", ""))
        rows = await admin.sla_report(self.deps, self.scope, since, until)
        self.write_json({"month": month, "rows": [_row(r) for r in rows]})


routes = [
    (r"/admin/consult", QueuePage),
    (r"/admin/consult/cases/" + CASE, CasePage),
    (r"/admin/consult/desks", DesksPage),
    (r"/admin/consult/report", ReportPage),
    (r"/api/admin/consult/queue", QueueApi),
    (r"/api/admin/consult/cases/" + CASE, CaseApi),
    (r"/api/admin/consult/cases/" + CASE + r"/claim", ClaimApi),
    (r"/api/admin/consult/cases/" + CASE + r"/act", ActApi),
    (r"/api/admin/consult/cases/" + CASE + r"/release", ReleaseApi),
    (r"/api/admin/consult/desks", DesksApi),
    (r"/api/admin/consult/calendars/" + ORG, CalendarApi),
    (r"/api/admin/consult/report", ReportApi),
]
