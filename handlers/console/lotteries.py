"""Lotteries in the console: list, create, and one lottery's steps (close, draw, 公示, appeals, final)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv
from services.editors import once as console_once
from services.lotteries import admin, forms, overview

LOT_ID = r"([0-9a-f]{12})"


class LotteriesPage(ConsolePage):
    nav: ClassVar[str] = "lotteries"

    async def get(self) -> None:
        await self.render_page("console/lotteries.html", rows=await overview.list_for(self.deps, self.scope))


class LotteryNewPage(ConsolePage):
    nav: ClassVar[str] = "lotteries"

    async def _show(self, form: dict[str, Any], errors: Any = None, status: int = 200) -> None:
        key = form.get("form_key") or console_once.new_key()
        await self.render_page("console/lottery_form.html", status=status, form=form, errors=errors, form_key=key)

    async def get(self) -> None:
        until = (now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
        await self._show({"mode": "draw", "entries_until": until, "ends_at": until, "beacon_kind": "drand"})

    async def post(self) -> None:
        form = self.form()
        try:
            lottery_id = await admin.create(self.deps, self.scope, forms.from_form(form), form.get("form_key", ""))
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, {"_": exc.message}, exc.status)
            return
        self.flash("抽奖已创建")
        self.redirect(f"/admin/lotteries/{lottery_id}", status=303)


async def _act(handler: ConsolePage | ConsoleApi, lottery_id: str, action: str, form: dict[str, str]) -> Any:
    deps, scope = handler.deps, handler.scope
    if action == "close":
        return await admin.close(deps, scope, lottery_id, beacon_description=form.get("beacon_description", ""))
    if action == "draw":
        return await admin.run_draw(deps, scope, lottery_id, beacon_value=form.get("beacon_value", ""))
    if action == "publish":
        return await admin.publish(deps, scope, lottery_id)
    if action == "appeal":
        return await admin.disqualify(deps, scope, lottery_id, form.get("code", ""), form.get("reason", ""))
    if action == "finalize":
        scope.require_write()
        return await admin.finalize(deps, lottery_id, scope=scope)
    if action == "stop":
        return await overview.stop_instant(deps, scope, lottery_id)
    raise BadInput("操作不正确", code="action")


FLASH = {
    "close": "报名已截止，名单已封存并公布默克尔根",
    "draw": "已开奖，请核对后公示",
    "publish": "中奖名单已公示 7 天",
    "appeal": "申诉已处理，后续抽签码依次递补",
    "finalize": "公示期满，奖品已发放",
    "stop": "抽奖已结束",
}


class LotteryPage(ConsolePage):
    nav: ClassVar[str] = "lotteries"

    async def _show(self, lottery_id: str, errors: Any = None, status: int = 200) -> None:
        lot = await overview.detail(self.deps, self.scope, lottery_id)
        await self.render_page("console/lottery.html", status=status, lot=lot, errors=errors)

    async def get(self, lottery_id: str) -> None:
        await self._show(lottery_id)

    async def post(self, lottery_id: str) -> None:
        form = self.form()
        action = form.get("action", "")
        try:
            await _act(self, lottery_id, action, form)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(lottery_id, {"_": exc.message}, exc.status)
            return
        self.flash(FLASH.get(action, "已完成"))
        self.redirect(f"/admin/lotteries/{lottery_id}", status=303)


class WinnersExport(ConsolePage):
    nav: ClassVar[str] = "lotteries"

    async def get(self, lottery_id: str) -> None:
        await send_csv(self, f"中奖名单-{lottery_id}", await overview.winner_rows(self.deps, self.scope, lottery_id))


class EntriesExport(ConsolePage):
    nav: ClassVar[str] = "lotteries"

    async def get(self, lottery_id: str) -> None:
        await send_csv(self, f"报名名单-{lottery_id}", overview.entry_rows(self.deps, self.scope, lottery_id))


class LotteriesApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await overview.list_for(self.deps, self.scope)})

    async def post(self) -> None:
        key = self.request.headers.get("Idempotency-Key", "")
        lottery_id = await admin.create(self.deps, self.scope, self.json_body(), key)
        self.write_json(await overview.detail(self.deps, self.scope, lottery_id), 201)


class LotteryApi(ConsoleApi):
    async def get(self, lottery_id: str) -> None:
        self.write_json(await overview.detail(self.deps, self.scope, lottery_id))


class LotteryActionApi(ConsoleApi):
    async def post(self, lottery_id: str, action: str) -> None:
        body = self.json_body() if self.request.body else {}
        form = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        await _act(self, lottery_id, action, form)
        self.write_json(await overview.detail(self.deps, self.scope, lottery_id))


routes = [
    (r"/admin/lotteries", LotteriesPage),
    (r"/admin/lotteries/new", LotteryNewPage),
    (r"/admin/lotteries/" + LOT_ID, LotteryPage),
    (r"/admin/lotteries/" + LOT_ID + r"/winners\.csv", WinnersExport),
    (r"/admin/lotteries/" + LOT_ID + r"/entries\.csv", EntriesExport),
    (r"/api/admin/lotteries", LotteriesApi),
    (r"/api/admin/lotteries/" + LOT_ID, LotteryApi),
    (r"/api/admin/lotteries/" + LOT_ID + r"/(close|draw|publish|appeal|finalize|stop)", LotteryActionApi),
]
