"""Loading a competition or entry for an editor, and the audit line every change writes."""

from __future__ import annotations

import secrets
from typing import Any

from core.errors import Conflict, NotFound
from services.competitions import store
from services.competitions.model import STATUSES, Competition, from_doc
from services.editors import audit
from services.editors.scope import Scope

WHAT = "竞赛"


def new_id() -> str:
    return secrets.token_hex(6)


async def owned(db: Any, scope: Scope, cid: str) -> tuple[dict[str, Any], Competition]:
    """A competition the editor manages (owner org or above); 404 otherwise."""
    doc = scope.check_doc(await store.competition(db, cid), WHAT)
    return doc, from_doc(doc)


async def loaded(db: Any, cid: str) -> Competition:
    doc = await store.competition(db, cid)
    if doc is None:
        raise NotFound("竞赛不存在", code="not_found")
    return from_doc(doc)


def require_status(comp: Competition, *allowed: str) -> None:
    if comp.status not in allowed:
        wanted = "、".join(STATUSES[s] for s in allowed)
        raise Conflict(f"竞赛当前为「{STATUSES[comp.status]}」，此操作只能在「{wanted}」阶段进行", code="wrong_stage")


async def entry_in_scope(db: Any, scope: Scope, entry_id: str) -> dict[str, Any]:
    """An entry the editor's subtree covers (the entrant's own union and the levels above it)."""
    return scope.check_doc(await store.entry(db, entry_id), "参赛单位")


async def record(
    db: Any, scope: Scope, action: str, comp: Competition, summary: str, *, before: Any = None, after: Any = None
) -> None:
    await audit.record(
        db,
        scope.editor,
        action,
        "competition",
        comp.id,
        comp.org_path,
        summary=f"{comp.title}：{summary}",
        before=before,
        after=after,
        ip=scope.ip,
    )
