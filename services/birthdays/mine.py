"""A member's own view: their birth month-day (shown to nobody else) and this year's gift."""

from __future__ import annotations

from typing import Any

from core.clock import now
from core.deps import Deps
from services import benefits
from services.birthdays import store
from services.birthdays.policy import birthday_in, from_doc, nearest
from services.members import store as members
from services.members.sessions import CurrentUser


async def my_birthday(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    out: dict[str, Any] = {"bound": user.is_member, "birth_md": "", "birthday": None, "policy": None, "gift": None}
    if not user.is_member:
        return out
    member = await members.get(deps.db, user.member_id)
    if member is None:
        return out
    year = now().year
    out["birth_md"] = member.birth_md
    if member.birth_md:
        out["birthday"] = birthday_in(year, member.birth_md).isoformat()
    policies = {org: from_doc(d) for org, d in (await store.enabled_policies(deps.db)).items()}
    p = nearest(policies, member.org_path)
    if p is not None:
        out["policy"] = {"title": p.title, "window_days": p.window_days}
    ent = await benefits.get(deps, benefits.entitlement_id(f"bday:{year}", member.member_no))
    if ent is not None:
        out["gift"] = {
            "entitlement_id": ent.id, "title": ent.title, "status": ent.status,
            "expires_at": ent.expires_at.isoformat(),
        }  # fmt: skip
    return out
