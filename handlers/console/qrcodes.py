"""Parametric QR codes: create (org follow code or activity check-in code), list, view and download the image."""

from __future__ import annotations

from typing import ClassVar

from handlers.console.base import ConsoleApi, ConsolePage
from services.editors import exports as console_exports
from services.qrcodes import admin as console_qrcodes

QR_ID = r"(qr[0-9a-f]{12})"


class QrCodesPage(ConsolePage):
    nav: ClassVar[str] = "qrcodes"

    async def get(self) -> None:
        rows = await console_qrcodes.list_for(self.deps, self.scope)
        await self.render_page("console/qrcodes.html", rows=rows)

    async def post(self) -> None:
        kind, target = self.get_body_argument("kind", ""), self.get_body_argument("target", "")
        doc, created = await console_qrcodes.create(self.deps, self.scope, kind, target)
        self.flash("二维码已生成" if created else "该二维码已存在且仍然有效，无需重复生成")
        self.redirect(f"/admin/qrcodes/{doc['_id']}", status=303)


class QrCodePage(ConsolePage):
    nav: ClassVar[str] = "qrcodes"

    async def get(self, qr_id: str) -> None:
        doc = await console_qrcodes.get(self.deps, self.scope, qr_id)
        await self.render_page(
            "console/qrcode.html", qr=doc, image_url=console_qrcodes.image_url(self.deps, doc["ticket"])
        )


class QrCodeImage(ConsolePage):
    """The PNG, fetched from WeChat's showqrcode and served as ours (same origin, a readable file name)."""

    async def get(self, qr_id: str) -> None:
        doc, body = await console_qrcodes.image(self.deps, self.scope, qr_id)
        self.set_header("Content-Type", "image/png" if body.startswith(b"\x89PNG") else "image/jpeg")
        if self.get_argument("download", ""):
            self.set_header("Content-Disposition", console_exports.disposition(f"{doc['title']}.png"))
        self.set_header("Cache-Control", "private, max-age=300")
        self.finish(body)


class QrCodesApi(ConsoleApi):
    async def get(self) -> None:
        rows = await console_qrcodes.list_for(self.deps, self.scope)
        self.write_json(
            {"items": [{**r, "image_url": console_qrcodes.image_url(self.deps, r["ticket"])} for r in rows]}
        )

    async def post(self) -> None:
        body = self.json_body()
        doc, created = await console_qrcodes.create(
            self.deps, self.scope, str(body.get("kind", "")), str(body.get("target") or "")
        )
        self.write_json(
            {**doc, "image_url": console_qrcodes.image_url(self.deps, doc["ticket"])}, 201 if created else 200
        )


routes = [
    (r"/admin/qrcodes", QrCodesPage),
    (r"/admin/qrcodes/" + QR_ID, QrCodePage),
    (r"/admin/qrcodes/" + QR_ID + r"/image\.png", QrCodeImage),
    (r"/api/admin/qrcodes", QrCodesApi),
]
