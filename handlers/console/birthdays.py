"""Birthday gifts in the console: the working org's policy, next month's cost and exceptions, a manual rerun."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

from core.clock import now
from core.errors import ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv
from services.birthdays import admin


class BirthdaysPage(ConsolePage):
    nav: ClassVar[str] = "birthdays"

    async def _show(self, form: dict[str, Any] | None = None, errors: Any = None, status: int = 200) -> None:
        policy = await admin.policy_of(self.deps, self.scope)
        await self.render_page(
            "console/birthdays.html", status=status, policy=policy, form=form or (asdict(policy) if policy else {}),
            policies=await admin.policies(self.deps, self.scope), preview=await admin.preview(self.deps, self.scope),
            errors=errors,
        )  # fmt: skip

    async def get(self) -> None:
        await self._show()

    async def post(self) -> None:
        form = self.form()
        try:
            if form.get("action") == "run":
                at = now()
                report = await admin.run_now(self.deps, self.scope, at.year, at.month)
                self.flash(f"本月生日礼品已补发：新发 {report.granted} 份，已发过 {report.already} 份，"
                           f"预算不足 {len(report.over_budget)} 人，未绑定 {len(report.not_bound)} 人")  # fmt: skip
            else:
                form["enabled"] = form.get("enabled", "")
                await admin.save_policy(self.deps, self.scope, form)
                self.flash("生日礼品设置已保存")
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, {"_": exc.message}, exc.status)
            return
        self.redirect("/admin/birthdays", status=303)


class ExceptionsExport(ConsolePage):
    nav: ClassVar[str] = "birthdays"

    async def get(self) -> None:
        p = await admin.preview(self.deps, self.scope)
        rows: list[list[Any]] = [["会员编号", "姓名", "工会", "原因"]]
        rows += [[x["member_no"], x["name"], x["org"], "未绑定小程序"] for x in p.not_bound]
        await send_csv(self, f"生日礼品例外-{p.year}-{p.month:02d}", rows)


class BirthdayPolicyApi(ConsoleApi):
    async def get(self) -> None:
        policy = await admin.policy_of(self.deps, self.scope)
        self.write_json(asdict(policy) if policy else None)

    async def put(self) -> None:
        self.write_json(asdict(await admin.save_policy(self.deps, self.scope, self.json_body())))


class BirthdayPreviewApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json(asdict(await admin.preview(self.deps, self.scope)))


routes = [
    (r"/admin/birthdays", BirthdaysPage),
    (r"/admin/birthdays/exceptions\.csv", ExceptionsExport),
    (r"/api/admin/birthdays/policy", BirthdayPolicyApi),
    (r"/api/admin/birthdays/preview", BirthdayPreviewApi),
]
