"""Pushes: compose (template / subscribe / customer-service / mass article), audience, schedule, preview,
pause / resume / cancel, a live progress bar (polls the JSON progress every second), report CSV."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import tornado.web

from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.render import field_errors
from handlers.console.roster import parse_upload
from services.editors import once as console_once
from services.pushes import admin as console_pushes
from services.pushes import compose as pushes
from services.pushes import rules as push_rules
from services.pushes import trial_and_uploads as push_tools

PUSH_ID = r"(p[0-9a-f]{10})"
MAX_FORM = 12 * 1024 * 1024  # an openid list (up to 200,000 lines) plus a mass article


def _fields(handler: Any, body: bytes) -> tuple[console_pushes.Fields, tuple[bytes, str] | None]:
    import tornado.httputil

    args: dict[str, list[bytes]] = {}
    files: dict[str, list[tornado.httputil.HTTPFile]] = {}
    tornado.httputil.parse_body_arguments(handler.request.headers.get("Content-Type", ""), body, args, files)
    fields = {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in args.items()}
    upload = next((f[0] for f in files.values() if f and f[0].body), None)
    return fields, ((upload.body, upload.filename) if upload else None)


def form_of(view: dict[str, Any]) -> dict[str, Any]:
    """A push (as 5a's view shows it) in the compose form's field names."""
    c, a, s = view["content"], view["audience"], view["schedule"]
    form: dict[str, Any] = {
        "title": view["title"],
        "channel": view["channel"],
        "audience": a["kind"],
        "schedule": s["kind"],
        "at": s.get("at", ""),
        "cron": s.get("cron", ""),
    }
    if view["channel"] in ("template", "subscribe"):
        key = "template" if view["channel"] == "template" else "sub_template"
        form[f"{key}_id"] = c.get("template_id", "")
        form[f"{key}_data"] = "\n".join(
            f"{k}={v.get('value', v) if isinstance(v, dict) else v}" for k, v in (c.get("data") or {}).items()
        )
        for k, v in (c.get("data") or {}).items():
            form[f"tpl_{c.get('template_id')}_{k}"] = v.get("value", "") if isinstance(v, dict) else v
        form[f"{view['channel']}_url"] = c.get("url", "")
        form[f"{view['channel']}_miniprogram_page"] = c.get("miniprogram_page", "")
    elif view["channel"] == "custom":
        form["custom_msgtype"] = c.get("msgtype", "text")
        form |= {f"custom_{k}": v for k, v in c.items() if k != "msgtype"}
    elif view["channel"] == "mass":
        form |= {f"mass_{k}": v for k, v in ((c.get("articles") or [{}])[0]).items()}
    form["tags"] = ",".join(str(t) for t in a.get("tags") or [])
    form["aud_orgs"] = a.get("orgs") or []
    form["member_orgs"] = (a.get("filter") or {}).get("orgs") or []
    form["member_nos"] = "\n".join((a.get("filter") or {}).get("member_nos") or [])
    form["upload_id"] = a.get("upload_id", "")
    return form


def flat(fields: console_pushes.Fields) -> dict[str, Any]:
    """Submitted fields for re-rendering: one value each, lists where the form has checkboxes."""
    lists = ("aud_orgs", "member_orgs")
    return {k: (v if k in lists else (v[-1] if v else "")) for k, v in fields.items()}


class PushesPage(ConsolePage):
    nav: ClassVar[str] = "pushes"

    async def get(self) -> None:
        status = self.get_argument("status", "")
        rows = await console_pushes.list_for(self.deps, self.scope, status if status in pushes.STATUS_TEXT else None)
        await self.render_page("console/pushes.html", rows=rows, picked=status, statuses=pushes.STATUS_TEXT)


@tornado.web.stream_request_body
class PushComposePage(ConsolePage):
    """New push (`/admin/pushes/new`) or editing a draft / scheduled one (`/admin/pushes/<id>/edit`)."""

    nav: ClassVar[str] = "pushes"
    streams_body: ClassVar[bool] = True

    async def prepare(self) -> None:
        self._body = bytearray()
        if self.request.method == "POST":
            self.request.connection.set_max_body_size(MAX_FORM)  # type: ignore[union-attr]
        await super().prepare()

    def data_received(self, chunk: bytes) -> None:
        self._body.extend(chunk)

    async def _show(
        self, form: dict[str, Any], push: dict[str, Any] | None, errors: Any = None, status: int = 200
    ) -> None:
        await self.render_page(
            "console/push_form.html",
            status=status,
            form=form,
            push=push,
            errors=errors,
            templates=await console_pushes.templates(self.deps),
            channels=push_rules.CHANNELS,
            form_key=form.get("form_key") or console_once.new_key(),
        )

    async def get(self, push_id: str | None = None) -> None:
        if push_id:
            view = await console_pushes.get(self.deps, self.scope, push_id)
            form = form_of(view)
            if self.get_argument("channel", "") in push_rules.CHANNELS:  # "改用群发图文" from the quota warning
                form["channel"] = self.get_argument("channel")
            await self._show(form, view)
        else:
            await self._show({"channel": "template", "audience": "all", "schedule": "now"}, None)

    async def post(self, push_id: str | None = None) -> None:
        fields, upload = _fields(self, bytes(self._body))
        self.check_csrf(console_pushes.one(fields, "_xsrf"))
        view = await console_pushes.get(self.deps, self.scope, push_id) if push_id else None
        try:
            upload_id = None
            if upload is not None and console_pushes.one(fields, "audience") == "openids":
                info = await console_pushes.upload(self.deps, self.scope, upload[0])
                upload_id = info["upload_id"]
            data = console_pushes.from_form(fields, upload_id)
            send = console_pushes.one(fields, "action") == "send"
            if view is None:  # "保存并提交" saves a draft: sending waits for the confirmation with the count
                view = await console_pushes.create(
                    self.deps, self.scope, data, form_key=console_pushes.one(fields, "form_key")
                )
            else:
                view = await console_pushes.update(self.deps, self.scope, view["id"], data)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form = flat(fields) | ({"upload_id": upload_id} if upload_id else {})
            await self._show(form, view if push_id else None, field_errors(exc), exc.status)
            return
        if send and view["status"] == "draft":
            self.flash("请核对发送人数后确认发送")
            self.redirect(f"/admin/pushes/{view['id']}#confirm", status=303)
            return
        self.flash("推送已保存" if view["status"] != "draft" else "推送已保存为草稿")
        self.redirect(f"/admin/pushes/{view['id']}", status=303)


class PushPage(ConsolePage):
    nav: ClassVar[str] = "pushes"

    async def _show(self, push_id: str, errors: Any = None, status: int = 200) -> None:
        view = await console_pushes.get(self.deps, self.scope, push_id)
        progress = await console_pushes.progress(self.deps, self.scope, push_id)
        runs = await console_pushes.runs(self.deps, self.scope, push_id)
        content = json.dumps({"content": view["content"], "audience": view["audience"]}, ensure_ascii=False, indent=1)
        estimate = await console_pushes.estimate(self.deps, self.scope, push_id) if view["status"] == "draft" else None
        await self.render_page(
            "console/push.html", status=status, push=view, p=progress, runs=runs, errors=errors, content_json=content,
            estimate=estimate,
        )  # fmt: skip

    async def get(self, push_id: str) -> None:
        await self._show(push_id)

    async def post(self, push_id: str) -> None:
        action = self.get_body_argument("action", "")
        try:
            if action == "preview":
                await console_pushes.preview(self.deps, self.scope, push_id, self.get_body_argument("openid", ""))
                self.flash("预览已发送，请在微信中查看")
            elif action in console_pushes.ACTION_NAMES:
                view = await console_pushes.act(self.deps, self.scope, push_id, action)
                self.flash(f"推送{view['status_text']}")
            else:
                raise BadInput("操作不正确", code="action")
        except ServiceError as exc:
            if exc.status == 404:
                raise
            await self._show(
                push_id,
                field_errors(exc, {"invalid_openid": "openid", "preview_failed": "openid", "preview_target": "openid"}),
                exc.status,
            )
            return
        self.redirect(f"/admin/pushes/{push_id}", status=303)


class PushReport(ConsolePage):
    async def get(self, push_id: str) -> None:
        run_id = self.get_argument("run", "") or None
        chunks = await console_pushes.report(self.deps, self.scope, push_id, run_id)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        from services.editors.exports import disposition

        self.set_header("Content-Disposition", disposition(f"推送报告-{push_id}{'-' + run_id if run_id else ''}.csv"))
        async for chunk in chunks:
            self.write(chunk)
            await self.flush()
        self.finish()


class PushesApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json(
            {"items": await console_pushes.list_for(self.deps, self.scope, self.get_argument("status", ""))}
        )

    async def post(self) -> None:
        body = self.json_body()
        submit = bool(body.pop("submit", False))
        key = self.request.headers.get("Idempotency-Key", "")
        self.write_json(await console_pushes.create(self.deps, self.scope, body, form_key=key, submit=submit), 201)


class PushApi(ConsoleApi):
    async def get(self, push_id: str) -> None:
        self.write_json(await console_pushes.get(self.deps, self.scope, push_id))

    async def patch(self, push_id: str) -> None:
        self.write_json(await console_pushes.update(self.deps, self.scope, push_id, self.json_body()))


class PushActionApi(ConsoleApi):
    async def post(self, push_id: str, action: str) -> None:
        if action == "preview":
            body = self.json_body()
            self.write_json(await console_pushes.preview(self.deps, self.scope, push_id, str(body.get("openid", ""))))
            return
        self.write_json(await console_pushes.act(self.deps, self.scope, push_id, action))


class PushEstimateApi(ConsoleApi):
    async def get(self, push_id: str) -> None:
        self.write_json(await console_pushes.estimate(self.deps, self.scope, push_id))


class PushProgressApi(ConsoleApi):
    async def get(self, push_id: str) -> None:
        run_id = self.get_argument("run", "") or None
        self.write_json(await console_pushes.progress(self.deps, self.scope, push_id, run_id))


class PushUploadApi(ConsoleApi):
    """An openid list as the request body (text/CSV, one per line) or a multipart `file`."""

    async def post(self) -> None:
        data = self.request.body
        if self.request.headers.get("Content-Type", "").startswith("multipart/form-data"):
            found = parse_upload(self, data)[1]
            data = found[0] if found else b""
        self.write_json(await console_pushes.upload(self.deps, self.scope, data), 201)


class PushTemplatesApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json(
            {"items": await push_tools.templates(self.deps, refresh=self.get_argument("refresh", "") == "1")}
        )


routes = [
    (r"/admin/pushes", PushesPage),
    (r"/admin/pushes/new", PushComposePage),
    (r"/admin/pushes/" + PUSH_ID, PushPage),
    (r"/admin/pushes/" + PUSH_ID + r"/edit", PushComposePage),
    (r"/admin/pushes/" + PUSH_ID + r"/report\.csv", PushReport),
    (r"/api/admin/pushes", PushesApi),
    (r"/api/admin/pushes/uploads", PushUploadApi),
    (r"/api/admin/pushes/templates", PushTemplatesApi),
    (r"/api/admin/pushes/" + PUSH_ID, PushApi),
    (r"/api/admin/pushes/" + PUSH_ID + r"/(submit|pause|resume|cancel|preview)", PushActionApi),
    (r"/api/admin/pushes/" + PUSH_ID + r"/estimate", PushEstimateApi),
    (r"/api/admin/pushes/" + PUSH_ID + r"/progress", PushProgressApi),
]
