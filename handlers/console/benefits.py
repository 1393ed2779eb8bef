"""Shops and redemption: editors register vendors and their accounts; a vendor account redeems codes
on a phone-friendly page; monthly statements (CSV) for vendors and editors."""

from __future__ import annotations

from typing import ClassVar

from core.clock import now
from core.errors import ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv, send_xlsx
from handlers.console.render import field_errors
from services.benefits import admin, vendors

VENDOR_ID = r"(v[0-9a-f]{10})"


class VendorsPage(ConsolePage):
    nav: ClassVar[str] = "vendors"

    async def _show(self, errors: dict[str, str] | None = None, status: int = 200) -> None:
        rows = await vendors.list_for(self.deps, self.scope)
        await self.render_page("console/vendors.html", status=status, vendors=rows, errors=errors,
                               month=now().strftime("%Y-%m"))  # fmt: skip

    async def get(self) -> None:
        await self._show()

    async def post(self) -> None:
        form = self.form()
        try:
            vendor = await vendors.register(self.deps, self.scope, form.get("name", ""), form.get("address", ""))
        except ServiceError as exc:
            await self._show(field_errors(exc, {"name": "name", "address": "address"}), exc.status)
            return
        self.flash(f"已登记商户「{vendor.name}」")
        self.redirect("/admin/vendors", status=303)


class VendorAccountPage(ConsolePage):
    """POST: a redemption account for one shop (admins only, like every account)."""

    nav: ClassVar[str] = "vendors"
    admin_only: ClassVar[bool] = True

    async def post(self, vendor_id: str) -> None:
        form = self.form()
        data = {k: form.get(k, "") for k in ("username", "name", "password")}
        try:
            doc = await admin.create_vendor_account(self.deps, self.scope, vendor_id, data)
        except ServiceError as exc:
            rows = await vendors.list_for(self.deps, self.scope)
            await self.render_page("console/vendors.html", status=exc.status, vendors=rows, errors=field_errors(exc),
                                   month=now().strftime("%Y-%m"))  # fmt: skip
            return
        self.flash(f"已为商户创建核销账号 {doc['_id']}")
        self.redirect("/admin/vendors", status=303)


class StatementExport(ConsolePage):
    """A vendor's month as CSV or Excel (editors: any shop in their subtree; vendors: their own)."""

    nav: ClassVar[str] = "vendors"
    vendor_allowed: ClassVar[bool] = True

    async def get(self, vendor_id: str, kind: str) -> None:
        month = self.get_query_argument("month", now().strftime("%Y-%m"))
        st = await admin.statement(self.deps, self.scope, vendor_id, month)
        name = f"结算单-{st.vendor.name}-{st.month}"
        if kind == "xlsx":
            await send_xlsx(self, name, {f"{st.month} 结算单": st.rows})
        else:
            await send_csv(self, name, st.rows)


class RedeemPage(ConsolePage):
    """The shop's page: type (or let the phone's camera fill) the worker's 12-digit code, redeem."""

    nav: ClassVar[str] = "redeem"
    vendor_allowed: ClassVar[bool] = True
    vendor_may_post: ClassVar[bool] = True

    async def get(self) -> None:
        vendor = await admin.own_vendor(self.deps, self.scope) if self.scope.editor.is_vendor else None
        await self.render_page("console/redeem.html", vendor=vendor, done=None, month=now().strftime("%Y-%m"))

    async def post(self) -> None:
        vendor = await admin.own_vendor(self.deps, self.scope)
        try:
            done = await admin.redeem(self.deps, self.scope, self.get_body_argument("code", ""))
        except ServiceError as exc:
            errors = {"_": exc.message, "code": exc.message}
            await self.render_page("console/redeem.html", status=exc.status, vendor=vendor, done=None, errors=errors,
                                   month=now().strftime("%Y-%m"))  # fmt: skip
            return
        await self.render_page("console/redeem.html", vendor=vendor, done=done, month=now().strftime("%Y-%m"))


class RedeemApi(ConsoleApi):
    vendor_allowed: ClassVar[bool] = True
    vendor_may_post: ClassVar[bool] = True

    async def post(self) -> None:
        code = self.json_body().get("code")
        done = await admin.redeem(self.deps, self.scope, code if isinstance(code, str) else "")
        self.write_json({"id": done.id, "title": done.title, "value_cents": done.value_cents,
                         "redeemed_at": done.redeemed_at})  # fmt: skip


routes = [
    (r"/admin/vendors", VendorsPage),
    (rf"/admin/vendors/{VENDOR_ID}/account", VendorAccountPage),
    (rf"/admin/vendors/{VENDOR_ID}/statement\.(csv|xlsx)", StatementExport),
    (r"/admin/redeem", RedeemPage),
    (r"/api/admin/redeem", RedeemApi),
]
