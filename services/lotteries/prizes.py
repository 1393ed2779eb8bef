"""Prizes into the benefits ledger: one entitlement per (lottery[, day], member), the member's org pays."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services import benefits
from services.lotteries import store
from services.members import store as members


def request(
    doc: dict[str, Any], source: str, member: members.Member, tier: dict[str, Any], granted_at: datetime
) -> benefits.GrantRequest:
    return benefits.GrantRequest(
        source=source,
        member_id=member.member_no,
        org=member.org,
        org_path=member.org_path,
        kind="prize",
        title=f"{doc['title']} · {tier['name']}：{tier['title']}",
        value_cents=int(tier.get("value_cents", 0)),
        vendor_org=doc.get("vendor_org") or doc["org"],
        expires_at=granted_at + timedelta(days=int(doc.get("prize_days", 30))),
    )


async def grant_draw_prizes(deps: Deps, doc: dict[str, Any]) -> int:
    """Grant every current winner (idempotent: a rerun after a crash grants nobody twice)."""
    tiers = {t["name"]: t for t in doc["tiers"]}
    by_code = {
        e["code"]: e for e in await store.entries_by_codes(deps.db, doc["_id"], [w["code"] for w in doc["winners"]])
    }
    at = now()
    reqs = []
    for w in doc["winners"]:
        entry = by_code.get(w["code"])
        member = await members.get(deps.db, entry["member_id"]) if entry else None
        if member is not None:  # a member removed from the roster since entering gets nothing
            reqs.append(request(doc, f"lot:{doc['_id']}", member, tiers[w["tier"]], at))
    await benefits.grant_many(deps, reqs)
    return len(reqs)
