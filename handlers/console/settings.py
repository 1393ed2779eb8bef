"""Org settings in the console: each key for the working org with where its value comes from
(/admin/settings), and the province's overview of every city (/admin/settings/cities)."""

from __future__ import annotations

from typing import Any, ClassVar

from handlers.console.base import ConsoleApi, ConsolePage
from services.settings import admin


def _value_from_form(kind: str, form: dict[str, str]) -> Any:
    if form.get("clear"):
        return None
    if kind == "bool":
        return form.get("value") == "1"
    return form.get("value", "")


class SettingsPage(ConsolePage):
    nav: ClassVar[str] = "settings"

    async def get(self) -> None:
        await self.render_page("console/settings.html", rows=await admin.rows(self.deps, self.scope))

    async def post(self) -> None:
        form = self.form()
        row = next((r for r in await admin.rows(self.deps, self.scope) if r.setting.key == form.get("key")), None)
        kind = row.setting.kind if row else "text"
        await admin.change(
            self.deps, self.scope, form.get("key"), _value_from_form(kind, form), form.get("locked") == "1"
        )
        self.flash("设置已保存，各实例 1 秒内生效")
        self.redirect("/admin/settings", status=303)


class CitySettingsPage(ConsolePage):
    nav: ClassVar[str] = "settings"

    async def get(self) -> None:
        await self.render_page("console/settings_cities.html", matrix=await admin.city_matrix(self.deps, self.scope))


class SettingsApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": [_row_json(r) for r in await admin.rows(self.deps, self.scope)]})

    async def put(self) -> None:
        body = self.json_body()
        row = await admin.change(self.deps, self.scope, body.get("key"), body.get("value"), body.get("locked", False))
        self.write_json(_row_json(row))


def _row_json(r: admin.Row) -> dict[str, Any]:
    return {
        "key": r.setting.key, "label": r.setting.label, "kind": r.setting.kind, "value": r.value,
        "source": r.source, "own": r.own, "locked_here": r.locked_here, "editable": r.editable,
    }  # fmt: skip


routes = [
    (r"/admin/settings", SettingsPage),
    (r"/admin/settings/cities", CitySettingsPage),
    (r"/api/admin/settings", SettingsApi),
]
