"""Judges' console: their assignments by blind code, one scoring form each. A `judge` account sees nothing else."""

from __future__ import annotations

from typing import ClassVar

from handlers.console.base import ConsoleApi, ConsolePage
from services import competitions

CID = r"([0-9a-f]{12})"
CODE = r"([A-Za-z0-9]{4,12})"


class TasksApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"judge"})

    async def get(self) -> None:
        self.write_json({"items": await competitions.my_tasks(self.deps, self.scope.editor)})


class TaskApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"judge"})

    async def get(self, cid: str, code: str) -> None:
        self.write_json(await competitions.task_detail(self.deps, self.scope.editor, cid, code))

    async def post(self, cid: str, code: str) -> None:
        values = self.json_body().get("values")
        self.write_json(await competitions.submit_score(self.deps, self.scope.editor, cid, code, values), 201)


class RecusalApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"judge"})

    async def post(self, cid: str, code: str) -> None:
        reason = self.json_body().get("reason")
        self.write_json(await competitions.recuse(self.deps, self.scope.editor, cid, code, reason))


class ConflictsApi(ConsoleApi):
    desk_roles: ClassVar[frozenset[str]] = frozenset({"judge"})

    async def post(self, cid: str) -> None:
        orgs = self.json_body().get("orgs")
        self.write_json({"conflicts": await competitions.declare_conflicts(self.deps, self.scope.editor, cid, orgs)})


class TasksPage(ConsolePage):
    nav: ClassVar[str] = "judging"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"judge"})

    async def get(self) -> None:
        items = await competitions.my_tasks(self.deps, self.scope.editor)
        await self.render_page("console/judging.html", items=items)


class TaskPage(ConsolePage):
    nav: ClassVar[str] = "judging"
    desk_roles: ClassVar[frozenset[str]] = frozenset({"judge"})

    async def get(self, cid: str, code: str) -> None:
        task = await competitions.task_detail(self.deps, self.scope.editor, cid, code)
        await self.render_page("console/judging_task.html", task=task)

    async def post(self, cid: str, code: str) -> None:
        form = self.form()
        if form.get("action") == "recuse":
            await competitions.recuse(self.deps, self.scope.editor, cid, code, form.get("reason", ""))
            self.flash(f"已回避 {code}，系统已另行安排评委")
            self.redirect("/admin/judging", status=303)
            return
        values = {k: v for k, v in form.items() if k.startswith("c")}
        await competitions.submit_score(self.deps, self.scope.editor, cid, code, values)
        self.flash(f"已提交 {code} 的评分")
        self.redirect("/admin/judging", status=303)


routes = [
    (r"/admin/judging", TasksPage),
    (rf"/admin/judging/{CID}/{CODE}", TaskPage),
    (r"/api/admin/judging", TasksApi),
    (rf"/api/admin/judging/{CID}/conflict-orgs", ConflictsApi),
    (rf"/api/admin/judging/{CID}/{CODE}", TaskApi),
    (rf"/api/admin/judging/{CID}/{CODE}/recusal", RecusalApi),
]
