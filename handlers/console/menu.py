"""The custom menu of the working org: edit the draft in fixed slots, publish it, watch its followers get tagged."""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.render import field_errors
from services.menus import admin as console_menu
from services.menus import rules as console_menu_rules
from services.menus import store
from services.replies.preview import click_replies

FIELDS = {"wechat_refused": "_", "no_draft": "_", "menu_level": "_"}


class MenuPage(ConsolePage):
    nav: ClassVar[str] = "menu"

    async def _show(self, form: dict[str, str] | None = None, errors: Any = None, status: int = 200) -> None:
        org, doc = await console_menu.load(self.deps, self.scope)
        kind = console_menu.menu_kind(org)
        buttons = doc.get("draft") or ((doc.get("published") or {}).get("buttons")) or console_menu.SUGGESTED
        answers = await click_replies(self.deps.db, list(org.path), org.name)
        await self.render_page(
            "console/menu.html",
            status=status,
            org=org,
            doc=doc,
            kind=kind,
            errors=errors,
            form=form if form is not None else console_menu_rules.to_form(buttons),
            preview=buttons,
            types=console_menu_rules.BUTTON_TYPES,
            clicks=sorted(answers),
            answers=answers,
            suggested=not doc.get("draft"),
            tagging_stale=store.is_stale((doc.get("tagging") or {}).get("beat")),
        )

    async def get(self) -> None:
        await self._show()

    async def post(self) -> None:
        form = self.form()
        action = form.pop("action", "save")
        try:
            if action in ("tagging", "retag"):
                await console_menu.resume_tagging(self.deps, self.scope, restart=action == "retag")
                self.flash("已开始为关注者打标签，可刷新页面查看进度")
            else:
                await console_menu.save_draft(self.deps, self.scope, console_menu_rules.from_form(form))
                if action == "publish":
                    await console_menu.publish(self.deps, self.scope)
                    self.flash("菜单已发布到公众号，关注者重新进入公众号后即可看到（最长约 5 分钟）")
                else:
                    self.flash("菜单草稿已保存（尚未发布）")
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, field_errors(exc, FIELDS), exc.status)
            return
        self.redirect("/admin/menu", status=303)


class MenuApi(ConsoleApi):
    async def get(self) -> None:
        org, doc = await console_menu.load(self.deps, self.scope)
        self.write_json({"org": org.code, "kind": console_menu.menu_kind(org), **doc})

    async def put(self) -> None:
        raw = console_menu_rules.from_json(self.json_body().get("button"))
        self.write_json(await console_menu.save_draft(self.deps, self.scope, raw))


class MenuPublishApi(ConsoleApi):
    async def post(self) -> None:
        self.write_json(await console_menu.publish(self.deps, self.scope))


routes = [
    (r"/admin/menu", MenuPage),
    (r"/api/admin/menu", MenuApi),
    (r"/api/admin/menu/publish", MenuPublishApi),
]
