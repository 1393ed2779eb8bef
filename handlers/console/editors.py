"""Accounts (admins only): list, create, edit role/org/status, reset a password; pages and JSON."""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.render import field_errors
from services.editors import accounts as editors
from services.editors import auth as console_auth
from services.editors import scope as console_scope
from services.orgs import store as orgs

FIELDS = {
    "username": "username",
    "name": "name",
    "role": "role",
    "org": "org",
    "password": "password",
    "password2": "password2",
    "disabled": "disabled",
    "editor_not_found": "_",
}


class EditorsPage(ConsolePage):
    admin_only: ClassVar[bool] = True
    nav: ClassVar[str] = "editors"

    async def get(self) -> None:
        rows = await editors.list_managed(self.deps.db, self.scope.editor, self.scope.org)
        names = await console_scope.org_names(self.deps.db, [r["org"] for r in rows])
        await self.render_page("console/editors.html", rows=rows, org_names=names, roles=editors.ROLES)


class EditorNewPage(ConsolePage):
    admin_only: ClassVar[bool] = True
    nav: ClassVar[str] = "editors"

    async def _show(self, form: dict[str, Any], errors: dict[str, str] | None = None, status: int = 200) -> None:
        kids = await orgs.children(self.deps.db, self.scope.org)
        await self.render_page(
            "console/editor_form.html",
            status=status,
            form=form,
            errors=errors,
            roles=editors.ROLES,
            kids=kids,
            account=None,
        )

    async def get(self) -> None:
        await self._show({"org": self.scope.org, "role": "editor"})

    async def post(self) -> None:
        form = self.form()
        try:
            if form.get("password") != form.get("password2"):
                raise BadInput("两次输入的密码不一致", code="password2")
            doc = await console_auth.create_account(self.deps, self.scope.editor, form, self.client_ip())
        except ServiceError as exc:
            await self._show(form, field_errors(exc, FIELDS), exc.status)
            return
        self.flash(f"已创建账号 {doc['_id']}")
        self.redirect("/admin/editors", status=303)


class EditorPage(ConsolePage):
    admin_only: ClassVar[bool] = True
    nav: ClassVar[str] = "editors"

    async def _show(
        self, username: str, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200
    ) -> None:
        account = await editors.get_managed(self.deps.db, self.scope.editor, username)
        kids = await orgs.children(self.deps.db, self.scope.org)
        await self.render_page(
            "console/editor_form.html",
            status=status,
            account=account,
            roles=editors.ROLES,
            form=form or account,
            errors=errors,
            kids=kids,
        )

    async def get(self, username: str) -> None:
        await self._show(username)

    async def post(self, username: str) -> None:
        form = self.form()
        action = form.pop("action", "save")
        try:
            if action == "password":
                if form.get("password") != form.get("password2"):
                    raise BadInput("两次输入的密码不一致", code="password2")
                await console_auth.reset_password(
                    self.deps, self.scope.editor, username, form.get("password"), self.client_ip()
                )
                self.flash(f"已重置 {username} 的密码，其已登录的设备均已退出")
            else:
                data = {
                    "name": form.get("name", ""),
                    "role": form.get("role", ""),
                    "org": form.get("org", ""),
                    "disabled": form.get("disabled") == "1",
                }
                await console_auth.update_account(self.deps, self.scope.editor, username, data, self.client_ip())
                self.flash(f"已保存账号 {username}")
        except ServiceError as exc:
            if exc.status == 404:
                raise
            await self._show(username, form, field_errors(exc, FIELDS), exc.status)
            return
        self.redirect("/admin/editors", status=303)


class EditorsApi(ConsoleApi):
    admin_only: ClassVar[bool] = True

    async def get(self) -> None:
        rows = await editors.list_managed(self.deps.db, self.scope.editor, self.scope.org)
        self.write_json({"items": [editors.public(r) for r in rows]})

    async def post(self) -> None:
        doc = await console_auth.create_account(self.deps, self.scope.editor, self.json_body(), self.client_ip())
        self.write_json(editors.public(doc), 201)


class EditorApi(ConsoleApi):
    admin_only: ClassVar[bool] = True

    async def get(self, username: str) -> None:
        self.write_json(editors.public(await editors.get_managed(self.deps.db, self.scope.editor, username)))

    async def patch(self, username: str) -> None:
        after = await console_auth.update_account(
            self.deps, self.scope.editor, username, self.json_body(), self.client_ip()
        )
        self.write_json(editors.public(after))


class EditorPasswordApi(ConsoleApi):
    admin_only: ClassVar[bool] = True

    async def post(self, username: str) -> None:
        body = self.json_body()
        await console_auth.reset_password(
            self.deps, self.scope.editor, username, body.get("password"), self.client_ip()
        )
        self.write_json({"ok": True})


routes = [
    (r"/admin/editors", EditorsPage),
    (r"/admin/editors/new", EditorNewPage),
    (r"/admin/editors/([a-z0-9_.-]{1,64})", EditorPage),
    (r"/api/admin/editors", EditorsApi),
    (r"/api/admin/editors/([a-z0-9_.-]{1,64})", EditorApi),
    (r"/api/admin/editors/([a-z0-9_.-]{1,64})/password", EditorPasswordApi),
]
