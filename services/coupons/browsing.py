"""What workers see of coupon batches: the list (their org path's batches) and one batch with
"本单位剩 N / 公共池 M" and their own result."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from core.clock import from_timestamp, localize, now
from core.deps import Deps
from core.errors import BadInput, NotFound
from services.coupons import grabbing, store
from services.members.sessions import CurrentUser
from services.orgs.store import PROVINCE_CODE

CURSOR = re.compile(r"(\d{1,13})\.([0-9a-f]{12})")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _state(doc: dict[str, Any], at_ms: int) -> str:
    if doc["status"] != "open":
        return "closed"
    waves = [(_ms(w["opens_at"]), _ms(w["closes_at"])) for w in doc["waves"]]
    if any(s <= at_ms < e for s, e in waves):
        return "open"
    return "upcoming" if any(s > at_ms for s, _ in waves) else "ended"


def _ms(dt: Any) -> int:
    return int(dt.timestamp() * 1000)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    at_ms = int(time.time() * 1000)
    upcoming = [w["opens_at"] for w in doc["waves"] if _ms(w["opens_at"]) > at_ms]
    return {
        "id": doc["_id"], "title": doc["title"], "org": doc["org"], "value_cents": int(doc.get("value_cents", 0)),
        "stock": doc["stock"], "state": _state(doc, at_ms),
        "waves": [{"opens_at": localize(w["opens_at"]).isoformat(), "closes_at": localize(w["closes_at"]).isoformat()}
                  for w in doc["waves"]],
        "next_wave_at": localize(upcoming[0]).isoformat() if upcoming else None,
        "expires_at": localize(doc["expires_at"]).isoformat(),
    }  # fmt: skip


async def page(deps: Deps, user: CurrentUser, cursor: str = "", limit: int = 20) -> Page:
    before = None
    if cursor:
        m = CURSOR.fullmatch(cursor)
        if m is None:
            raise BadInput("cursor 无效", code="invalid_field")
        before = (from_timestamp(int(m.group(1)) / 1000), m.group(2))
    orgs = list(user.org_path) or [PROVINCE_CODE]
    docs = await store.batches_in(deps.db, orgs, before, limit + 1)
    nxt = None
    if len(docs) > limit:
        last = docs[limit - 1]
        nxt = f"{_ms(last['created_at'])}.{last['_id']}"
    return Page([summary(d) for d in docs[:limit]], nxt)


async def detail(deps: Deps, user: CurrentUser, batch_id: str) -> dict[str, Any]:
    doc = await store.get_batch(deps.db, batch_id)
    if doc is None or not (set(doc["org_path"][-1:]) & set(user.org_path or (PROVINCE_CODE,))):
        raise NotFound("该批优惠券不存在或不面向您所在的工会", code="batch_not_found")
    view = await grabbing.my_view(deps, user, batch_id, list(doc["buckets"]))
    return {
        **summary(doc),
        "my": {
            "bucket_left": view.bucket_left, "pool_left": view.pool_left, "text": view.text, "result": view.state,
            "entitlement_id": view.entitlement_id or None, "is_member": user.is_member,
            "reason": "" if user.is_member else grabbing.NOT_MEMBER,
        },
        "now": now().isoformat(),
    }  # fmt: skip
