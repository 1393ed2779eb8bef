"""抢券 batches in the console: list and create, watch one (stock per bucket live, Redis vs MongoDB,
moves to the pool), the held / unknown-risk list with release and revoke, close and reopen."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv
from handlers.console.render import field_errors
from services.coupons import admin

BATCH_ID = r"([0-9a-f]{12})"


def spec_from_form(form: dict[str, str]) -> admin.BatchSpec:
    """Waves: one per line, "开始, 结束, 份额" (share optional), e.g. "2026-06-01 10:00, 2026-06-01 11:00, 1"."""
    waves: list[dict[str, Any]] = []
    for line in re.split(r"[\r\n]+", form.get("waves", "")):
        parts = [p.strip() for p in re.split(r"[,，]", line) if p.strip()]
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise BadInput(f"时段“{line.strip()}”应写成：开始, 结束, 份额", code="waves")
        waves.append({"opens_at": parts[0].replace(" ", "T"), "closes_at": parts[1].replace(" ", "T"),
                      "share": parts[2] if len(parts) == 3 else 1})  # fmt: skip
    try:
        value_cents = round(float(form.get("value") or 0) * 100)
    except ValueError:
        raise BadInput("面值应为数字（元）", code="value_cents") from None
    return admin.parse_spec({
        "title": form.get("title", ""), "value_cents": value_cents, "stock": form.get("stock", ""), "waves": waves,
        "expires_at": (form.get("expires_at") or "").replace(" ", "T"), "vendor_org": form.get("vendor_org", ""),
    })  # fmt: skip


class CouponsPage(ConsolePage):
    nav: ClassVar[str] = "coupons"

    async def _show(self, form: dict[str, str], errors: dict[str, str] | None = None, status: int = 200) -> None:
        rows = await admin.list_batches(self.deps, self.scope)
        await self.render_page("console/coupons.html", status=status, rows=rows, form=form, errors=errors)

    async def get(self) -> None:
        suggested = "\n".join(f"{w['opens_at'][:16].replace('T', ' ')}, {w['closes_at'][:16].replace('T', ' ')}, 1"
                              for w in admin.default_waves(now()))  # fmt: skip
        await self._show({"waves": suggested, "stock": "1000", "value": "20"})

    async def post(self) -> None:
        form = self.form()
        try:
            batch = await admin.create(self.deps, self.scope, spec_from_form(form))
        except ServiceError as exc:
            fields = {"title": "title", "waves": "waves", "stock": "stock", "expires_at": "expires_at",
                      "invalid_time": "waves", "value_cents": "value"}  # fmt: skip
            await self._show(form, field_errors(exc, fields), exc.status)
            return
        self.flash(f"已创建抢券「{batch['title']}」")
        self.redirect(f"/admin/coupons/{batch['_id']}", status=303)


class CouponPage(ConsolePage):
    nav: ClassVar[str] = "coupons"

    async def get(self, batch_id: str) -> None:
        watch = await admin.watch(self.deps, self.scope, batch_id)
        flagged = await admin.flagged(self.deps, self.scope, batch_id)
        await self.render_page("console/coupon.html", w=watch, flagged=flagged)

    async def post(self, batch_id: str) -> None:
        form = self.form()
        action = form.get("action", "")
        try:
            if action in ("close", "open"):
                await admin.set_open(self.deps, self.scope, batch_id, action == "open")
                self.flash("已停止发放" if action == "close" else "已恢复发放")
            elif action in ("release", "revoke"):
                member = form.get("member_id", "")
                await admin.review(self.deps, self.scope, batch_id, member, release=action == "release",
                                   note=form.get("note", ""))  # fmt: skip
                self.flash("已放行" if action == "release" else "已收回，券已退回公共池")
            else:
                raise BadInput("未知操作", code="action")
        except ServiceError as exc:
            if exc.status == 404:
                raise
            watch = await admin.watch(self.deps, self.scope, batch_id)
            flagged = await admin.flagged(self.deps, self.scope, batch_id)
            await self.render_page("console/coupon.html", status=exc.status, w=watch, flagged=flagged,
                                   errors={"_": exc.message})  # fmt: skip
            return
        self.redirect(f"/admin/coupons/{batch_id}", status=303)


class GrantsCsv(ConsolePage):
    nav: ClassVar[str] = "coupons"

    async def get(self, batch_id: str) -> None:
        rows = await admin.grants_rows(self.deps, self.scope, batch_id)
        await send_csv(self, f"抢券领取明细-{batch_id}", rows)


class CouponLiveApi(ConsoleApi):
    """The watch page's numbers as JSON (for a live view or a script)."""

    async def get(self, batch_id: str) -> None:
        w = await admin.watch(self.deps, self.scope, batch_id)
        self.write_json({
            "buckets": [{"org": r.org, "name": r.name, "members": r.members, "allotted": r.allotted, "left": r.left,
                         "granted": r.granted} for r in w.rows],
            "pool_left": w.pool_left, "granted_redis": w.granted_redis, "stored": w.stored, "pending": w.pending,
            "agrees": w.agrees, "status": w.batch["status"],
        })  # fmt: skip


routes = [
    (r"/admin/coupons", CouponsPage),
    (rf"/admin/coupons/{BATCH_ID}", CouponPage),
    (rf"/admin/coupons/{BATCH_ID}/grants\.csv", GrantsCsv),
    (rf"/api/admin/coupons/{BATCH_ID}/live", CouponLiveApi),
]
