"""The audit log: who changed what and when (list), and what it looked like before and after (one entry)."""

from __future__ import annotations

from typing import ClassVar

from handlers.console.base import ConsoleApi, ConsolePage
from services.editors import audit

PAGE = 50


class AuditPage(ConsolePage):
    nav: ClassVar[str] = "audit"

    async def get(self) -> None:
        actor = self.get_query_argument("actor", "").strip()[:64]
        target = self.get_query_argument("type", "").strip()[:32]
        before = self.get_query_argument("before", "").strip()[:32]
        rows = await audit.entries(
            self.deps.db,
            self.scope.editor,
            self.scope.org,
            actor=actor,
            target_type=target,
            before_id=before,
            limit=PAGE,
        )
        await self.render_page(
            "console/audit.html",
            rows=rows,
            actor=actor,
            target=target,
            targets=audit.TARGETS,
            describe=audit.describe,
            more=len(rows) == PAGE,
        )


class AuditEntryPage(ConsolePage):
    nav: ClassVar[str] = "audit"

    async def get(self, entry_id: str) -> None:
        doc = await audit.entry(self.deps.db, self.scope.editor, entry_id)
        rows = audit.changes(doc.get("before"), doc.get("after"))
        await self.render_page("console/audit_entry.html", e=doc, rows=rows, describe=audit.describe)


class AuditApi(ConsoleApi):
    async def get(self) -> None:
        rows = await audit.entries(
            self.deps.db,
            self.scope.editor,
            self.scope.org,
            actor=self.get_query_argument("actor", "")[:64],
            target_type=self.get_query_argument("type", "")[:32],
            before_id=self.get_query_argument("before", "")[:32],
            limit=PAGE,
        )
        self.write_json({"items": rows, "next": rows[-1]["_id"] if len(rows) == PAGE else None})


class AuditEntryApi(ConsoleApi):
    async def get(self, entry_id: str) -> None:
        self.write_json(await audit.entry(self.deps.db, self.scope.editor, entry_id))


routes = [
    (r"/admin/audit", AuditPage),
    (r"/admin/audit/([0-9a-f]{24})", AuditEntryPage),
    (r"/api/admin/audit", AuditApi),
    (r"/api/admin/audit/([0-9a-f]{24})", AuditEntryApi),
]
