"""Activities (报名): list, create with sessions and a sign-up form, publish, cancel, live numbers, sign-up export."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv, send_xlsx
from handlers.console.render import field_errors, fmt_input_dt
from services.activities import admin as console_activities
from services.editors import once as console_once

ACTIVITY_ID = r"(ac[0-9a-f]{12})"
PREVIEW_ROWS = 200


def _form_of(doc: dict[str, Any]) -> dict[str, Any]:
    form: dict[str, Any] = {
        k: doc.get(k)
        for k in (
            "title",
            "description",
            "place",
            "members_only",
            "per_user_limit",
            "remind_minutes_before",
            "checkin_minutes_before",
        )
    }
    for key in ("signup_opens_at", "signup_deadline", "cancel_deadline"):
        form[key] = fmt_input_dt(doc.get(key))
    form["waitlist_enabled"] = "1" if (doc.get("waitlist") or {}).get("enabled") else ""
    form["waitlist_limit"] = (doc.get("waitlist") or {}).get("limit") or ""
    for i, s in enumerate(doc.get("sessions") or [], 1):
        form |= {
            f"s{i}_id": s["id"],
            f"s{i}_title": s.get("title", ""),
            f"s{i}_place": s.get("place", ""),
            f"s{i}_starts_at": fmt_input_dt(s["starts_at"]),
            f"s{i}_ends_at": fmt_input_dt(s["ends_at"]),
            f"s{i}_capacity": s["capacity"],
        }
    form["form"] = json.dumps(doc.get("form") or [], ensure_ascii=False, indent=1)
    return form


def _errors(exc: ServiceError) -> dict[str, str]:
    errors = field_errors(exc)
    for key in list(errors):  # "sessions[0]" -> the slot s1
        if key.startswith("sessions[") and key.endswith("]"):
            errors[f"s{int(key[9:-1]) + 1}"] = errors.pop(key)
    return errors


class ActivitiesPage(ConsolePage):
    nav: ClassVar[str] = "activities"

    async def get(self) -> None:
        rows = await console_activities.list_for(self.deps, self.scope)
        await self.render_page("console/activities.html", rows=rows)


class ActivityNewPage(ConsolePage):
    nav: ClassVar[str] = "activities"

    async def _show(self, form: dict[str, Any], errors: Any = None, status: int = 200) -> None:
        await self.render_page(
            "console/activity_form.html",
            status=status,
            form=form,
            errors=errors,
            activity=None,
            slots=console_activities.SESSION_SLOTS,
            form_key=form.get("form_key") or console_once.new_key(),
        )

    async def get(self) -> None:
        await self._show(
            {
                "per_user_limit": 1,
                "waitlist_enabled": "1",
                "remind_minutes_before": 120,
                "checkin_minutes_before": 60,
                "form": "[]",
            }
        )

    async def post(self) -> None:
        form = self.form()
        try:
            data = console_activities.from_form(form)
            doc = await console_activities.create(self.deps, self.scope, data, form.get("form_key", ""))
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, _errors(exc), exc.status)
            return
        self.flash("活动已创建（草稿）。检查无误后请点击“发布”。")
        self.redirect(f"/admin/activities/{doc['_id']}", status=303)


class ActivityPage(ConsolePage):
    nav: ClassVar[str] = "activities"

    async def _show(
        self, activity_id: str, form: dict[str, Any] | None = None, errors: Any = None, status: int = 200
    ) -> None:
        doc = await console_activities.get(self.deps, self.scope, activity_id)
        numbers = await console_activities.numbers(self.deps, doc)
        rows = [r async for r in console_activities.signup_rows(self.deps, self.scope, activity_id, PREVIEW_ROWS)]
        chart = [
            {"label": s.get("title") or s["id"], "count": numbers.get(s["id"], (0, 0))[0], "cap": s["capacity"]}
            for s in doc["sessions"]
        ]
        await self.render_page(
            "console/activity.html",
            status=status,
            activity=doc,
            numbers=numbers,
            rows=rows,
            chart=chart,
            form=form or _form_of(doc),
            errors=errors,
            slots=console_activities.SESSION_SLOTS,
            preview_rows=PREVIEW_ROWS,
        )

    async def get(self, activity_id: str) -> None:
        await self._show(activity_id)

    async def post(self, activity_id: str) -> None:
        form = self.form()
        action = form.pop("action", "")
        try:
            if action in ("publish", "cancel", "delete"):
                await console_activities.act(self.deps, self.scope, activity_id, action)
                self.flash({"publish": "活动已发布", "cancel": "活动已取消", "delete": "活动已删除"}[action])
                self.redirect(
                    "/admin/activities" if action == "delete" else f"/admin/activities/{activity_id}", status=303
                )
                return
            if action != "edit":
                raise BadInput("操作不正确", code="action")
            doc = await console_activities.get(self.deps, self.scope, activity_id)
            data = console_activities.from_form(form)
            if doc["status"] == "published":
                data = {k: v for k, v in data.items() if k not in ("form", "members_only")}
            await console_activities.update(self.deps, self.scope, activity_id, data)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(activity_id, form, _errors(exc), exc.status)
            return
        self.flash("活动已保存")
        self.redirect(f"/admin/activities/{activity_id}", status=303)


class ActivityExport(ConsolePage):
    nav: ClassVar[str] = "activities"

    async def get(self, activity_id: str, fmt: str) -> None:
        doc = await console_activities.get(self.deps, self.scope, activity_id)
        rows = console_activities.signup_rows(self.deps, self.scope, activity_id)
        name = f"报名名单-{doc['title']}"
        if fmt == "csv":
            await send_csv(self, name, rows)
        else:
            await send_xlsx(self, name, {"报名名单": [r async for r in rows]})


class ActivitiesApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await console_activities.list_for(self.deps, self.scope)})

    async def post(self) -> None:
        key = self.request.headers.get("Idempotency-Key", "")
        self.write_json(await console_activities.create(self.deps, self.scope, self.json_body(), key), 201)


class ActivityApi(ConsoleApi):
    async def get(self, activity_id: str) -> None:
        doc = await console_activities.get(self.deps, self.scope, activity_id)
        numbers = await console_activities.numbers(self.deps, doc)
        self.write_json({**doc, "numbers": {k: {"confirmed": c, "waitlisted": w} for k, (c, w) in numbers.items()}})

    async def patch(self, activity_id: str) -> None:
        self.write_json(await console_activities.update(self.deps, self.scope, activity_id, self.json_body()))

    async def delete(self, activity_id: str) -> None:
        await console_activities.act(self.deps, self.scope, activity_id, "delete")
        self.write_json({"ok": True})


class ActivityActionApi(ConsoleApi):
    async def post(self, activity_id: str, action: str) -> None:
        self.write_json(await console_activities.act(self.deps, self.scope, activity_id, action))


routes = [
    (r"/admin/activities", ActivitiesPage),
    (r"/admin/activities/new", ActivityNewPage),
    (r"/admin/activities/" + ACTIVITY_ID, ActivityPage),
    (r"/admin/activities/" + ACTIVITY_ID + r"/signups\.(csv|xlsx)", ActivityExport),
    (r"/api/admin/activities", ActivitiesApi),
    (r"/api/admin/activities/" + ACTIVITY_ID, ActivityApi),
    (r"/api/admin/activities/" + ACTIVITY_ID + r"/(publish|cancel)", ActivityActionApi),
]
