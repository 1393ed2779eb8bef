"""A worker's own entitlements (我的权益), newest first, in pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.clock import from_timestamp, localize, now
from core.deps import Deps
from core.errors import BadInput
from services.benefits import ledger, store
from services.benefits.codes import STATUS_TEXT
from services.members.sessions import CurrentUser

CURSOR = re.compile(r"(\d{1,13})\.(.{1,200})")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _item(e: ledger.Entitlement) -> dict[str, Any]:
    status = "expired" if e.status == "granted" and e.expires_at <= now() else e.status
    return {
        "id": e.id, "kind": e.kind, "title": e.title, "value_cents": e.value_cents, "status": status,
        "status_text": STATUS_TEXT.get(status, status), "granted_at": localize(e.granted_at).isoformat(),
        "expires_at": localize(e.expires_at).isoformat(),
        "redeemed_at": localize(e.redeemed_at).isoformat() if e.redeemed_at else None,
    }  # fmt: skip


async def page(deps: Deps, user: CurrentUser, cursor: str = "", limit: int = 20) -> Page:
    if not user.member_id:
        return Page([], None)
    before = None
    if cursor:
        m = CURSOR.fullmatch(cursor)
        if m is None:
            raise BadInput("cursor 无效", code="invalid_field")
        before = (from_timestamp(int(m.group(1)) / 1000), m.group(2))
    docs = await store.page_of_member(deps.db, user.member_id, before, limit + 1)
    items = [ledger.from_doc(d) for d in docs[:limit]]
    nxt = None
    if len(docs) > limit:
        last = items[-1]
        nxt = f"{int(last.granted_at.timestamp() * 1000)}.{last.id}"
    return Page([_item(e) for e in items], nxt)
