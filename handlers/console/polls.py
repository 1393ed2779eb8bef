"""Polls: list, create, edit, publish, close, live results with a chart, CSV/Excel export (pages + JSON)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv, send_xlsx
from handlers.console.render import field_errors
from services.editors import once as console_once
from services.polls import admin as console_polls

POLL_ID = r"([0-9a-f]{12})"
FIELDS = {
    "closes_at": "closes_at",
    "max_choices": "max_choices",
    "limit_count": "limit_count",
    "invalid_time": "closes_at",
    "options_locked": "options",
    "limit_locked": "limit_per",
}


def _field_for(message: str) -> str:
    """The poll service names fields in its Chinese messages; map the common ones back to inputs."""
    for words, field in (
        ("标题", "title"),
        ("选项", "options"),
        ("结束时间", "closes_at"),
        ("开始时间", "opens_at"),
        ("最多可选", "max_choices"),
        ("投票次数", "limit_count"),
        ("封面", "cover_url"),
        ("说明", "description"),
    ):
        if words in message:
            return field
    return ""


def errors_of(exc: ServiceError) -> dict[str, str]:
    errors = field_errors(exc, FIELDS)
    field = _field_for(exc.message)
    if field and field not in errors:
        errors[field] = exc.message
    return errors


class PollsPage(ConsolePage):
    nav: ClassVar[str] = "polls"

    async def get(self) -> None:
        rows = await console_polls.list_for(self.deps, self.scope)
        await self.render_page("console/polls.html", rows=rows)


class PollNewPage(ConsolePage):
    nav: ClassVar[str] = "polls"

    async def _show(self, form: dict[str, Any], errors: Any = None, status: int = 200) -> None:
        key = form.get("form_key") or console_once.new_key()
        await self.render_page(
            "console/poll_form.html", status=status, form=form, errors=errors, poll=None, form_key=key
        )

    async def get(self) -> None:
        closes = now() + timedelta(days=7)
        await self._show({"limit_per": "poll", "limit_count": "1", "max_choices": "1", "closes_at": closes})

    async def post(self) -> None:
        form = self.form()
        try:
            data = console_polls.from_form(form, console_polls.options_from_text(form.get("options", "")))
            if form.get("publish") == "1":
                data["publish"] = True
            poll = await console_polls.create(self.deps, self.scope, data, form.get("form_key", ""))
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, errors_of(exc), exc.status)
            return
        self.flash("投票已创建" + ("并发布" if poll["status"] == "published" else "（草稿，发布后职工可见）"))
        self.redirect(f"/admin/polls/{poll['_id']}", status=303)


class PollPage(ConsolePage):
    nav: ClassVar[str] = "polls"

    async def _show(
        self, poll_id: str, form: dict[str, Any] | None = None, errors: Any = None, status: int = 200
    ) -> None:
        res = await console_polls.results(self.deps, self.scope, poll_id)
        await self.render_page(
            "console/poll.html",
            status=status,
            poll=res["poll"],
            res=res,
            form=form or {},
            errors=errors,
            rows=console_polls.result_rows(res),
        )

    async def get(self, poll_id: str) -> None:
        await self._show(poll_id)

    async def post(self, poll_id: str) -> None:
        form = self.form()
        action = form.get("action", "")
        try:
            if action in ("publish", "close"):
                await console_polls.set_status(self.deps, self.scope, poll_id, action)
                self.flash("投票已发布" if action == "publish" else "投票已结束，不再接受投票")
            elif action == "edit":
                poll = await console_polls.get(self.deps, self.scope, poll_id)
                options = [{"id": o["id"], "title": form.get(f"opt_{o['id']}", "")} for o in poll["options"]]
                options = [o for o in options if o["title"]]
                options += [{"title": t} for t in console_polls.options_from_text(form.get("new_options", ""))]
                data = console_polls.from_form(form, [])
                data["options"] = options
                await console_polls.update(self.deps, self.scope, poll_id, data)
                self.flash("投票已保存")
            else:
                raise BadInput("操作不正确", code="action")
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(poll_id, form, errors_of(exc), exc.status)
            return
        self.redirect(f"/admin/polls/{poll_id}", status=303)


class PollExport(ConsolePage):
    nav: ClassVar[str] = "polls"

    async def get(self, poll_id: str, fmt: str) -> None:
        res = await console_polls.results(self.deps, self.scope, poll_id)
        rows = console_polls.result_rows(res)
        name = f"投票结果-{res['poll']['title']}"
        if fmt == "csv":
            await send_csv(self, name, rows)
        else:
            await send_xlsx(self, name, {"投票结果": rows})


class PollsApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await console_polls.list_for(self.deps, self.scope)})

    async def post(self) -> None:
        data = console_polls.from_json(self.json_body())
        key = self.request.headers.get("Idempotency-Key", "")
        self.write_json(await console_polls.create(self.deps, self.scope, data, key), 201)


class PollApi(ConsoleApi):
    async def get(self, poll_id: str) -> None:
        self.write_json(await console_polls.get(self.deps, self.scope, poll_id))

    async def patch(self, poll_id: str) -> None:
        data = console_polls.from_json(self.json_body())
        self.write_json(await console_polls.update(self.deps, self.scope, poll_id, data))


class PollActionApi(ConsoleApi):
    async def post(self, poll_id: str, action: str) -> None:
        self.write_json(await console_polls.set_status(self.deps, self.scope, poll_id, action))


class PollResultsApi(ConsoleApi):
    async def get(self, poll_id: str) -> None:
        res = await console_polls.results(self.deps, self.scope, poll_id)
        res.pop("poll", None)
        self.write_json(res)


routes = [
    (r"/admin/polls", PollsPage),
    (r"/admin/polls/new", PollNewPage),
    (r"/admin/polls/" + POLL_ID, PollPage),
    (r"/admin/polls/" + POLL_ID + r"/export\.(csv|xlsx)", PollExport),
    (r"/api/admin/polls", PollsApi),
    (r"/api/admin/polls/" + POLL_ID, PollApi),
    (r"/api/admin/polls/" + POLL_ID + r"/(publish|close)", PollActionApi),
    (r"/api/admin/polls/" + POLL_ID + r"/results", PollResultsApi),
]
