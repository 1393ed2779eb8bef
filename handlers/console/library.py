"""职工书屋 in the console: rooms, spreadsheet import, the counter (lend / return by scanning), idle titles,
waiting holds and suggested transfers (漂流) to confirm. Definitions are JSON; one overview page."""

from __future__ import annotations

from typing import Any, ClassVar

import tornado.web

from core.errors import BadInput, Forbidden
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.roster import MAX_UPLOAD, parse_upload
from services.library import checkins, counter, rooms

ROOM_ID = r"([0-9a-f]{12})"


class LibraryPage(ConsolePage):
    nav: ClassVar[str] = "library"

    async def get(self) -> None:
        await self.render_page(
            "console/library.html", rows=await rooms.list_rooms(self.deps, self.scope),
            waiting=await rooms.waiting(self.deps, self.scope), moves=await rooms.suggestions(self.deps, self.scope),
            idle=(await rooms.idle_titles(self.deps, self.scope))[:50],
        )  # fmt: skip


class RoomsApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await rooms.list_rooms(self.deps, self.scope)})

    async def post(self) -> None:
        self.write_json(await rooms.create_room(self.deps, self.scope, self.json_body()), 201)


@tornado.web.stream_request_body
class ImportApi(ConsoleApi):
    """multipart/form-data with one file (.csv or .xlsx); the CSRF token as the X-XSRFToken header."""

    streams_body: ClassVar[bool] = True

    async def prepare(self) -> None:
        self._body = bytearray()
        if self.request.method == "POST":
            self.request.connection.set_max_body_size(MAX_UPLOAD)  # type: ignore[union-attr]
        await super().prepare()
        self.check_csrf(self.request.headers.get("X-XSRFToken", ""))

    def data_received(self, chunk: bytes) -> None:
        self._body.extend(chunk)

    async def post(self, room_id: str) -> None:
        _, upload = parse_upload(self, bytes(self._body))
        if upload is None or not upload[0]:
            raise BadInput("请选择要导入的 .xlsx 或 .csv 文件", code="file")
        self.write_json(await rooms.import_copies(self.deps, self.scope, room_id, upload[0], upload[1] or "图书.csv"))


class CounterApi(ConsoleApi):
    viewer_may_post: ClassVar[bool] = True  # keepers (who cannot edit content) lend and return

    async def prepare(self) -> None:
        await super().prepare()
        if self.session is not None and self.scope.editor.role not in counter.COUNTER_ROLES:
            raise Forbidden("只读账号不能办理借还", code="read_only")

    async def post(self, room_id: str, action: str) -> None:
        data = self.json_body()
        if not isinstance(data, dict) or not isinstance(data.get("copy"), str):
            raise BadInput("请扫描书上的条码（copy）", code="invalid_field")
        if action == "lend":
            code = data.get("code")
            if not isinstance(code, str):
                raise BadInput("请扫描读者的借书码（code）", code="invalid_field")
            self.write_json(await counter.lend(self.deps, self.scope, room_id, code, data["copy"]))
        else:
            self.write_json(await counter.take_return(self.deps, self.scope, room_id, data["copy"]))


class OverviewApi(ConsoleApi):
    async def get(self, what: str) -> None:
        found: list[dict[str, Any]]
        if what == "idle":
            found = await rooms.idle_titles(self.deps, self.scope)
        elif what == "waiting":
            found = await rooms.waiting(self.deps, self.scope)
        else:
            found = await rooms.suggestions(self.deps, self.scope)
        self.write_json({"items": found})


class TransferApi(ConsoleApi):
    async def post(self) -> None:
        data = self.json_body()
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("copy"), str)
            or not isinstance(data.get("to_room"), str)
        ):
            raise BadInput("请提交要调拨的图书（copy）和目标书屋（to_room）", code="invalid_field")
        self.write_json(await rooms.confirm_transfer(self.deps, self.scope, data["copy"], data["to_room"]))


class CampaignsApi(ConsoleApi):
    """Reading campaigns (e.g. 世界读书日) of the working org."""

    async def post(self) -> None:
        self.write_json(await checkins.create_campaign(self.deps, self.scope, self.json_body()), 201)


routes: list[tuple[str, Any]] = [
    (r"/admin/library", LibraryPage),
    (r"/api/admin/library/rooms", RoomsApi),
    (r"/api/admin/library/rooms/" + ROOM_ID + r"/import", ImportApi),
    (r"/api/admin/library/rooms/" + ROOM_ID + r"/(lend|return)", CounterApi),
    (r"/api/admin/library/(idle|waiting|suggestions)", OverviewApi),
    (r"/api/admin/library/transfers", TransferApi),
    (r"/api/admin/library/campaigns", CampaignsApi),
]
