"""Members in the console: the roster list with search, one member's page (edit name and phone,
unbind the WeChat account, transfer to another org), and the same as JSON under /api/admin/members."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

from core.errors import ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from services.editors.scope import org_names
from services.members import admin as members_admin
from services.people import transfer

NO = r"([0-9A-Z-]{4,32})"  # member numbers are stored upper-case, so "import" never matches


class MembersPage(ConsolePage):
    nav: ClassVar[str] = "members"

    async def get(self) -> None:
        q = self.get_argument("q", "")
        page = await members_admin.list_members(self.deps, self.scope, q, self.get_argument("cursor", ""))
        rows = [asdict(r) for r in page.rows]
        await self.render_page("console/members.html", rows=rows, q=q, next_cursor=page.next_cursor)


class MemberPage(ConsolePage):
    nav: ClassVar[str] = "members"

    async def get(self, member_no: str) -> None:
        await self._show(member_no)

    async def _show(self, member_no: str, status: int = 200, errors: dict[str, str] | None = None) -> None:
        row = await members_admin.member(self.deps, self.scope, member_no)
        await self.render_page("console/member.html", status=status, m=row, errors=errors or {},
                               org_names=await self._names(row.org_path))  # fmt: skip

    async def _names(self, codes: tuple[str, ...]) -> dict[str, str]:
        return await org_names(self.deps.db, list(codes))

    async def post(self, member_no: str, action: str = "edit") -> None:
        form = self.form()
        try:
            if action == "unbind":
                await members_admin.unbind(self.deps, self.scope, member_no)
                self.flash("已解除绑定：该职工可在小程序中重新绑定会员身份")
            elif action == "transfer":
                row = await transfer.transfer(self.deps, self.scope, member_no, form.get("org", ""))
                names = await org_names(self.deps.db, [row.org])
                self.flash(f"已转移到{names.get(row.org, row.org)}")
            else:
                await members_admin.edit(self.deps, self.scope, member_no, form.get("name", ""), form.get("phone", ""))
                self.flash("会员信息已保存")
        except ServiceError as exc:
            if exc.status not in (400, 409):
                raise
            await self._show(member_no, exc.status, {"_": exc.message})
            return
        self.redirect(f"/admin/members/{member_no}", status=303)


class MembersApi(ConsoleApi):
    async def get(self) -> None:
        page = await members_admin.list_members(
            self.deps, self.scope, self.get_argument("q", ""), self.get_argument("cursor", "")
        )
        self.write_json({"items": [asdict(r) for r in page.rows], "next_cursor": page.next_cursor or None})


class MemberApi(ConsoleApi):
    async def get(self, member_no: str) -> None:
        self.write_json(asdict(await members_admin.member(self.deps, self.scope, member_no)))

    async def patch(self, member_no: str) -> None:
        body: dict[str, Any] = self.json_body()
        row = await members_admin.edit(
            self.deps, self.scope, member_no, str(body.get("name", "")), str(body.get("phone", ""))
        )
        self.write_json(asdict(row))


class MemberActionApi(ConsoleApi):
    async def post(self, member_no: str, action: str) -> None:
        if action == "unbind":
            await members_admin.unbind(self.deps, self.scope, member_no)
            self.write_json({"bound": False})
            return
        row = await transfer.transfer(self.deps, self.scope, member_no, str(self.json_body().get("org", "")))
        self.write_json(asdict(row))


routes = [
    (r"/admin/members", MembersPage),
    (rf"/admin/members/{NO}", MemberPage),
    (rf"/admin/members/{NO}/(unbind|transfer)", MemberPage),
    (r"/api/admin/members", MembersApi),
    (rf"/api/admin/members/{NO}", MemberApi),
    (rf"/api/admin/members/{NO}/(unbind|transfer)", MemberActionApi),
]
