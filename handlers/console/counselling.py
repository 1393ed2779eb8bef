"""心理咨询 in the console: the counsellor's desk (own bookings only) and the editors' k-anonymous reports.

Counsellors (`counsellor` role) reach only the handlers whose `desk_roles` name them; the desk's
services refuse every other role (services/counselling/desk.py), so an admin cannot read bookings
either. Editors, admins and viewers get the reports page: counts per org and month, cells under
5 people suppressed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from services import counselling
from services.counselling import availability, duty

BOOKING_ID = r"([a-z0-9]{16})"
ACTIONS = {"no_show", "attended", "approve", "reject"}


async def _act(page: Any, booking_id: str, action: Any) -> dict[str, Any]:
    if action not in ACTIONS:
        raise BadInput("未知操作", code="action")
    if action in ("approve", "reject"):
        return await counselling.desk.decide(page.deps, page.scope, booking_id, action == "approve")
    return await counselling.desk.mark(page.deps, page.scope, booking_id, action)


class DeskPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def get(self) -> None:
        if self.scope.editor.role != "counsellor":
            self.redirect("/admin/counselling/reports")
            return
        rows = await counselling.desk.calendar(self.deps, self.scope)
        await self.render_page(
            "console/counselling_desk.html",
            bookings=rows,
            pending=[r for r in rows if r["status"] == "pending_approval"],
            profile=await counselling.desk.profile(self.deps, self.scope),
            alerts=await counselling.for_counsellor(self.deps, self.scope.editor, limit=20),
            slots=await counselling.desk.slots(self.deps, self.scope),
        )


class BookingActionPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self, booking_id: str) -> None:
        result = await _act(self, booking_id, self.get_body_argument("action", ""))
        self.flash(f"已更新：{result['status_text']}")
        self.redirect("/admin/counselling", status=303)


class DutyPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self) -> None:
        on = self.get_body_argument("on", "") == "1"
        await counselling.desk.set_on_duty(self.deps, self.scope, on)
        self.flash("已开始值班：危机提醒会发给您" if on else "已结束值班")
        self.redirect("/admin/counselling", status=303)


class AlertAckPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self) -> None:
        counselling.common.require_counsellor(self.scope)
        await counselling.acknowledge(self.deps, self.scope, self.get_body_argument("alert_id", ""))
        self.flash("已确认收到提醒")
        self.redirect("/admin/counselling", status=303)


class BindPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self) -> None:
        code, _ = await duty.new_bind_code(self.deps, self.scope)
        self.flash(f"请在 10 分钟内用您的微信向“山东工会”公众号发送：值班绑定 {code}")
        self.redirect("/admin/counselling", status=303)


class SlotPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self) -> None:
        blocked = self.get_body_argument("blocked", "") == "1"
        await counselling.desk.block_slot(self.deps, self.scope, self.get_body_argument("slot_id", ""), blocked)
        self.flash("该时段已停约" if blocked else "该时段已恢复可预约")
        self.redirect("/admin/counselling", status=303)


class AvailabilityPage(ConsolePage):
    nav: ClassVar[str] = "counselling"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def _show(self, form: dict[str, Any], errors: dict[str, str] | None = None, status: int = 200) -> None:
        await self.render_page("console/counselling_availability.html", form=form, errors=errors, status=status)

    async def get(self) -> None:
        p = await counselling.desk.profile(self.deps, self.scope)
        form = {"rules": availability.rules_as_text(p.get("rules")), "slot_minutes": p.get("slot_minutes", 50)}
        await self._show({**form, "intro": p.get("intro", "")})

    async def post(self) -> None:
        form = self.form()
        try:
            minutes = form.get("slot_minutes", "50")
            data = {
                "rules": availability.rules_from_text(form.get("rules", "")),
                "slot_minutes": int(minutes) if minutes.isdigit() else -1,
                "intro": form.get("intro", ""),
            }
            result = await counselling.desk.save_availability(self.deps, self.scope, data)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, {exc.code if exc.code in form else "_": exc.message}, 400)
            return
        self.flash(f"已保存，新增 {result['new_slots']} 个可预约时段")
        self.redirect("/admin/counselling", status=303)


class ReportsPage(ConsolePage):
    nav: ClassVar[str] = "counselling"

    async def get(self) -> None:
        first, last = self.get_query_argument("from", ""), self.get_query_argument("to", "")
        months = availability_months(first, last)
        report = await counselling.reports.report(self.deps, self.scope, months)
        await self.render_page("console/counselling_reports.html", report=report)


def availability_months(first: str, last: str) -> list[str] | None:
    if not first and not last:
        return None
    return counselling.reports.month_range(first or last, last or first)


# --- JSON -----------------------------------------------------------------------------------------
class BookingsApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def get(self) -> None:
        self.write_json({"items": await counselling.desk.calendar(self.deps, self.scope)})


class BookingApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def get(self, booking_id: str) -> None:
        self.write_json(await counselling.desk.booking(self.deps, self.scope, booking_id))

    async def post(self, booking_id: str) -> None:
        body = self.json_body()
        action = body.get("action") if isinstance(body, dict) else None
        self.write_json(await _act(self, booking_id, action))


class AvailabilityApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def get(self) -> None:
        self.write_json(await counselling.desk.profile(self.deps, self.scope))

    async def put(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise BadInput("请求体应为 JSON 对象", code="invalid_body")
        result = await counselling.desk.save_availability(self.deps, self.scope, body)
        self.write_json({"new_slots": result["new_slots"], "rules": result["counsellor"].get("rules", [])})


class SlotsApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def get(self) -> None:
        self.write_json({"items": await counselling.desk.slots(self.deps, self.scope)})

    async def post(self) -> None:
        body = self.json_body()
        slot_id, blocked = body.get("slot_id"), body.get("blocked")
        if not isinstance(slot_id, str) or not isinstance(blocked, bool):
            raise BadInput("请提供 slot_id 和 blocked（true 停约，false 恢复）", code="invalid_body")
        self.write_json(await counselling.desk.block_slot(self.deps, self.scope, slot_id, blocked))


class DutyApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self) -> None:
        body = self.json_body()
        on = body.get("on") if isinstance(body, dict) else None
        if not isinstance(on, bool):
            raise BadInput("on 应为 true 或 false", code="on")
        doc = await counselling.desk.set_on_duty(self.deps, self.scope, on)
        self.write_json({"on_duty": bool(doc.get("on_duty"))})


class AlertsApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def get(self) -> None:
        counselling.common.require_counsellor(self.scope)
        self.write_json({"items": await counselling.for_counsellor(self.deps, self.scope.editor)})


class BindApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"counsellor"})

    async def post(self) -> None:
        code, expires = await duty.new_bind_code(self.deps, self.scope)
        self.write_json({"code": code, "send": f"值班绑定 {code}", "expires_at": expires})


class ReportsApi(ConsoleApi):
    async def get(self) -> None:
        months = availability_months(self.get_query_argument("from", ""), self.get_query_argument("to", ""))
        self.write_json(await counselling.reports.report(self.deps, self.scope, months))


routes = [
    (r"/admin/counselling", DeskPage),
    (r"/admin/counselling/availability", AvailabilityPage),
    (r"/admin/counselling/duty", DutyPage),
    (r"/admin/counselling/alerts", AlertAckPage),
    (r"/admin/counselling/bind", BindPage),
    (r"/admin/counselling/slots", SlotPage),
    (r"/admin/counselling/reports", ReportsPage),
    (rf"/admin/counselling/bookings/{BOOKING_ID}", BookingActionPage),
    (r"/api/admin/counselling/bookings", BookingsApi),
    (rf"/api/admin/counselling/bookings/{BOOKING_ID}", BookingApi),
    (r"/api/admin/counselling/availability", AvailabilityApi),
    (r"/api/admin/counselling/duty", DutyApi),
    (r"/api/admin/counselling/alerts", AlertsApi),
    (r"/api/admin/counselling/bind", BindApi),
    (r"/api/admin/counselling/slots", SlotsApi),
    (r"/api/admin/counselling/reports", ReportsApi),
]
