"""Competitions in the console: JSON under /api/admin/competitions..., pages for the list, one competition, exports.

Judges' own pages (a `judge` account reaches only those) are in handlers/console/judging.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import BadInput
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_xlsx
from services import competitions

CID = r"([0-9a-f]{12})"
EID = r"([0-9a-f]{12})"
ACTIONS = ("approve", "start_stages", "start_judging", "publish", "finalize")


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadInput(f"{name} 应为 true 或 false", code="invalid_field")
    return value


class CompetitionsApi(ConsoleApi):
    async def get(self) -> None:
        items = await competitions.listing(self.deps, self.scope)
        self.write_json({"items": items, "open_for_registration": await competitions.open_to_me(self.deps, self.scope)})

    async def post(self) -> None:
        key = self.request.headers.get("Idempotency-Key", "")
        comp = await competitions.create(self.deps, self.scope, self.json_body(), key)
        self.write_json({"id": comp.id, "status": comp.status}, 201)


class CompetitionApi(ConsoleApi):
    async def get(self, cid: str) -> None:
        self.write_json(await competitions.overview(self.deps, self.scope, cid))


class CompetitionActionApi(ConsoleApi):
    async def post(self, cid: str, action: str) -> None:
        comp = await competitions.step(self.deps, self.scope, cid, action)
        self.write_json({"id": comp.id, "status": comp.status, "publicity_ends_at": comp.publicity_ends_at})


class EntriesApi(ConsoleApi):
    async def post(self, cid: str) -> None:
        body = self.json_body()
        entry = await competitions.register(self.deps, self.scope, cid, body.get("org"), body.get("name"))
        self.write_json({"id": entry["_id"], "status": entry["status"]}, 201)


class EntryReviewApi(ConsoleApi):
    async def post(self, eid: str) -> None:
        body = self.json_body()
        approve = _flag(body, "approve")
        done = await competitions.review_registration(self.deps, self.scope, eid, approve, body.get("note", ""))
        self.write_json({"id": eid, "status": done["status"]})


class ReportApi(ConsoleApi):
    async def post(self, eid: str, stage: str) -> None:
        b = self.json_body()
        args = (b.get("text"), b.get("figures", {}), b.get("media_ids", []))
        report = await competitions.submit_report(self.deps, self.scope, eid, stage, *args)
        self.write_json({"id": report["_id"], "status": report["status"]}, 201)


class ReportReviewApi(ConsoleApi):
    async def post(self, eid: str, stage: str) -> None:
        b = self.json_body()
        done = await competitions.review_report(
            self.deps, self.scope, f"{eid}:{stage}", _flag(b, "accept"), b.get("note")
        )
        self.write_json({"id": done["_id"], "status": done["status"]})


class JudgesApi(ConsoleApi):
    async def get(self, cid: str) -> None:
        self.write_json({"items": await competitions.judges_of(self.deps, self.scope, cid)})

    async def post(self, cid: str) -> None:
        b = self.json_body()
        args = (b.get("username"), b.get("affiliations", []), b.get("conflicts", []))
        judge = await competitions.add_judge(self.deps, self.scope, cid, *args)
        self.write_json(judge, 201)


class NewsApi(ConsoleApi):
    async def post(self, cid: str) -> None:
        b = self.json_body()
        stage = b.get("stage", "")
        if not isinstance(stage, str):
            raise BadInput("stage 应为阶段编号", code="invalid_field")
        doc = await competitions.post_news(self.deps, self.scope, cid, stage, b.get("title"), b.get("text"))
        self.write_json({"id": doc["_id"]}, 201)


class AppealApi(ConsoleApi):
    async def post(self, eid: str) -> None:
        doc = await competitions.appeal(self.deps, self.scope, eid, self.json_body().get("reasons"))
        self.write_json({"id": doc["_id"], "status": doc["status"]}, 201)


class AppealDecisionApi(ConsoleApi):
    async def post(self, eid: str) -> None:
        b = self.json_body()
        void = b.get("void_judge", "")
        if not isinstance(void, str):
            raise BadInput("void_judge 应为评委账号", code="invalid_field")
        args = (_flag(b, "upheld"), b.get("reply"), _flag(b, "reopen"), void)
        self.write_json(await competitions.decide(self.deps, self.scope, eid, *args))


class MatrixApi(ConsoleApi):
    async def get(self, cid: str) -> None:
        self.write_json(await competitions.judging_matrix(self.deps, self.scope, cid))


class CompetitionsPage(ConsolePage):
    nav: ClassVar[str] = "competitions"

    async def get(self) -> None:
        rows = await competitions.listing(self.deps, self.scope)
        await self.render_page("console/competitions.html", rows=rows)


class CompetitionPage(ConsolePage):
    nav: ClassVar[str] = "competitions"

    async def get(self, cid: str) -> None:
        data = await competitions.overview(self.deps, self.scope, cid)
        matrix = await competitions.judging_matrix(self.deps, self.scope, cid)
        await self.render_page("console/competition.html", data=data, matrix=matrix, actions=ACTIONS)

    async def post(self, cid: str) -> None:
        action = self.form().get("action", "")
        comp = await competitions.step(self.deps, self.scope, cid, action)
        self.flash(f"已完成：{comp.title}（{competitions.STATUSES[comp.status]}）")
        self.redirect(f"/admin/competitions/{cid}", status=303)


class ExportPage(ConsolePage):
    async def get(self, cid: str, what: str) -> None:
        name, sheets = await competitions.export_sheets(self.deps, self.scope, cid, what)
        await send_xlsx(self, name, sheets)


routes = [
    (r"/admin/competitions", CompetitionsPage),
    (rf"/admin/competitions/{CID}", CompetitionPage),
    (rf"/admin/competitions/{CID}/export/(ranking|commendations)\.xlsx", ExportPage),
    (r"/api/admin/competitions", CompetitionsApi),
    (rf"/api/admin/competitions/{CID}", CompetitionApi),
    (rf"/api/admin/competitions/{CID}/actions/({'|'.join(ACTIONS)})", CompetitionActionApi),
    (rf"/api/admin/competitions/{CID}/entries", EntriesApi),
    (rf"/api/admin/competitions/{CID}/judges", JudgesApi),
    (rf"/api/admin/competitions/{CID}/news", NewsApi),
    (rf"/api/admin/competitions/{CID}/matrix", MatrixApi),
    (rf"/api/admin/competition-entries/{EID}/review", EntryReviewApi),
    (rf"/api/admin/competition-entries/{EID}/reports/([a-z0-9]{{1,12}})", ReportApi),
    (rf"/api/admin/competition-entries/{EID}/reports/([a-z0-9]{{1,12}})/review", ReportReviewApi),
    (rf"/api/admin/competition-entries/{EID}/appeal", AppealApi),
    (rf"/api/admin/competition-entries/{EID}/appeal/decision", AppealDecisionApi),
]
