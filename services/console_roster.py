"""The member roster import in the console: over services.members.roster.import_roster (4a's importer), adding the
scope (the working org, which must lie in the editor's subtree), the audit log and a downloadable
per-row error report kept for an hour."""

from __future__ import annotations

import json
import secrets
from typing import Any

from core.deps import Deps
from core.errors import NotFound
from services.editors import audit
from services.editors.scope import Scope
from services.members import roster

REPORT_TTL = 3600
MAX_STORED_ERRORS = 20_000


async def run_import(deps: Deps, scope: Scope, data: bytes, filename: str, *, dry_run: bool) -> dict[str, Any]:
    scope.require_write()
    org = await scope.owner(deps.db)
    report = await roster.import_roster(deps, org.code, data, filename, dry_run=dry_run)
    out: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "org": org.code,
        "org_name": org.name,
        "filename": filename,
        "dry_run": report.dry_run,
        "total": report.total,
        "valid": report.valid,
        "inserted": report.inserted,
        "updated": report.updated,
        "error_count": len(report.errors),
        "errors": [{"row": e.row, "column": e.column, "message": e.message} for e in report.errors[:MAX_STORED_ERRORS]],
    }
    await deps.redis.set(_key(scope, out["id"]), json.dumps(out, ensure_ascii=False), ex=REPORT_TTL)
    if not dry_run:
        summary = (
            f"导入会员名册 {filename}：新增 {report.inserted} 人，更新 {report.updated} 人，{len(report.errors)} 行有误"
        )
        counts = {k: out[k] for k in ("filename", "total", "valid", "inserted", "updated", "error_count")}
        await audit.record(
            deps.db,
            scope.editor,
            "roster.import",
            "roster",
            out["id"],
            org.path,
            summary=summary,
            after=counts,
            ip=scope.ip,
        )
    return out


def _key(scope: Scope, report_id: str) -> str:
    return f"console:import:{scope.editor.username}:{report_id}"


async def report(deps: Deps, scope: Scope, report_id: str) -> dict[str, Any]:
    raw = await deps.redis.get(_key(scope, report_id))
    if raw is None:
        raise NotFound("导入报告已过期（保留 1 小时），请重新导入以查看", code="report_not_found")
    return dict(json.loads(raw))


def error_rows(rep: dict[str, Any]) -> list[list[Any]]:
    return [["行号", "列", "问题"], *([e["row"], e["column"], e["message"]] for e in rep["errors"])]


async def member_count(deps: Deps, scope: Scope) -> int:
    return await deps.db.members.count_documents({"org_path": scope.org})
