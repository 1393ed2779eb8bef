"""Member roster import: upload CSV or Excel (up to 20 MB, streamed in), see the per-row error report."""

from __future__ import annotations

from typing import Any, ClassVar

import tornado.httputil
import tornado.web

from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv
from services.members import admin as console_roster
from services.members import roster

MAX_UPLOAD = roster.MAX_BYTES + 64 * 1024  # the file plus the form around it


def parse_upload(handler: Any, body: bytes) -> tuple[dict[str, str], tuple[bytes, str] | None]:
    """Form fields and the first uploaded file of a multipart body."""
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[tornado.httputil.HTTPFile]] = {}
    tornado.httputil.parse_body_arguments(handler.request.headers.get("Content-Type", ""), body, args, files)
    fields = {k: v[-1].decode("utf-8", "replace") for k, v in args.items()}
    upload = next((f[0] for f in files.values() if f), None)
    return fields, ((upload.body, upload.filename) if upload else None)


@tornado.web.stream_request_body
class RosterImportPage(ConsolePage):
    nav: ClassVar[str] = "members"
    streams_body: ClassVar[bool] = True

    async def prepare(self) -> None:
        self._body = bytearray()
        if self.request.method == "POST":
            self.request.connection.set_max_body_size(MAX_UPLOAD)  # type: ignore[union-attr]
        await super().prepare()

    def data_received(self, chunk: bytes) -> None:
        self._body.extend(chunk)

    async def get(self) -> None:
        await self.render_page(
            "console/roster.html", rep=None, count=await console_roster.member_count(self.deps, self.scope)
        )

    async def post(self) -> None:
        fields, upload = parse_upload(self, bytes(self._body))
        self.check_csrf(fields.get("_xsrf", ""))
        try:
            if upload is None or not upload[0]:
                raise BadInput("请选择要导入的 .xlsx 或 .csv 文件", code="file")
            rep = await console_roster.run_import(
                self.deps, self.scope, upload[0], upload[1] or "名册.csv", dry_run=fields.get("dry_run") == "1"
            )
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            count = await console_roster.member_count(self.deps, self.scope)
            await self.render_page(
                "console/roster.html",
                status=exc.status,
                rep=None,
                count=count,
                errors={"_": exc.message, "file": exc.message},
            )
            return
        self.redirect(f"/admin/members/import/{rep['id']}", status=303)


class RosterReportPage(ConsolePage):
    nav: ClassVar[str] = "members"

    async def get(self, report_id: str) -> None:
        rep = await console_roster.report(self.deps, self.scope, report_id)
        count = await console_roster.member_count(self.deps, self.scope)
        await self.render_page("console/roster.html", rep=rep, count=count)


class RosterReportCsv(ConsolePage):
    async def get(self, report_id: str) -> None:
        rep = await console_roster.report(self.deps, self.scope, report_id)
        await send_csv(self, f"导入错误报告-{rep['filename']}", console_roster.error_rows(rep))


@tornado.web.stream_request_body
class RosterImportApi(ConsoleApi):
    """POST multipart (file, dry_run) -> the report as JSON (errors per row)."""

    streams_body: ClassVar[bool] = True

    async def prepare(self) -> None:
        self._body = bytearray()
        self.request.connection.set_max_body_size(MAX_UPLOAD)  # type: ignore[union-attr]
        await super().prepare()

    def data_received(self, chunk: bytes) -> None:
        self._body.extend(chunk)

    async def post(self) -> None:
        fields, upload = parse_upload(self, bytes(self._body))
        self.check_csrf(fields.get("_xsrf", ""))
        if upload is None or not upload[0]:
            raise BadInput("请上传 .xlsx 或 .csv 文件（字段名 file）", code="file")
        rep = await console_roster.run_import(
            self.deps, self.scope, upload[0], upload[1] or "名册.csv", dry_run=fields.get("dry_run") in ("1", "true")
        )
        self.write_json(rep, 200)


routes = [
    (r"/admin/members/import", RosterImportPage),
    (r"/admin/members/import/([0-9a-f]{16})", RosterReportPage),
    (r"/admin/members/import/([0-9a-f]{16})/errors\.csv", RosterReportCsv),
    (r"/api/admin/members/import", RosterImportApi),
]
