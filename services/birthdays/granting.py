"""The monthly birthday run: grant every covered, bound member born in the month their `bday:<year>` gift.

Per member, in this order (each step idempotent, so reruns and crashes are safe):
1. the year's claim exists already (any org, any earlier run) → only make sure the ledger has it
   (claims are read a thousand at a time; `granted` marks those the ledger has);
2. charge the policy org's budget in Redis (one Lua decision: once per member, never over budget);
3. insert the claim (unique `bday:<year>:<member>`; journaled). Lost the race to another run → give the
   charge back unless that run charged the same budget;
4. grant in the ledger (idempotent) with the org the member is in now: that org pays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.clock import now as clock_now
from core.deps import Deps
from services import benefits
from services.birthdays import live, store
from services.birthdays.policy import Policy, birthday_in, expires_at, from_doc, nearest
from services.members import store as members


@dataclass
class RunReport:
    year: int
    month: int
    granted: int = 0  # new this run
    already: int = 0  # granted before (rerun, or in another org this year)
    over_budget: list[str] = field(default_factory=list)
    not_bound: list[str] = field(default_factory=list)
    new_claims: list[str] = field(default_factory=list)


def source(year: int) -> str:
    return f"bday:{year}"


async def ensure_budget(deps: Deps, p: Policy, year: int) -> None:
    if await live.exists(deps, p.org, year):
        return
    charged = [(d["member_id"], int(d["value_cents"])) async for d in store.claims_of_budget(deps.db, p.org, year)]
    await live.rebuild(deps, p.org, year, p.budget_cents, charged)


async def _grant(deps: Deps, claim: dict[str, Any]) -> None:
    req = benefits.GrantRequest(
        source=source(int(claim["year"])),
        member_id=claim["member_id"],
        org=claim["org"],
        org_path=tuple(claim["org_path"]),
        kind="gift",
        title=claim["title"],
        value_cents=int(claim["value_cents"]),
        vendor_org=claim["vendor_org"],
        expires_at=claim["expires_at"],
    )
    await benefits.grant(deps, req)
    await store.mark_granted(deps.db, claim["_id"])


async def grant_member(
    deps: Deps, p: Policy, m: members.Member, year: int, month: int, report: RunReport,
    existing: dict[str, Any] | None,
) -> None:  # fmt: skip
    claim_id = benefits.entitlement_id(source(year), m.member_no)
    if existing is not None:
        if not existing.get("granted"):  # a run stopped between the claim and the ledger
            await _grant(deps, existing)
        report.already += 1
        return
    for _ in range(2):
        verdict = await live.charge(deps, p.org, year, m.member_no, p.value_cents)
        if verdict != "lost":
            break
        await ensure_budget(deps, p, year)
    if verdict == "over":
        report.over_budget.append(m.member_no)
        return
    claim = {
        "_id": claim_id, "year": year, "month": month, "member_id": m.member_no, "policy_org": p.org,
        "org": m.org, "org_path": list(m.org_path), "value_cents": p.value_cents, "title": p.title,
        "vendor_org": p.vendor_org, "template_id": p.template_id, "birthday": birthday_in(year, m.birth_md).isoformat(),
        "expires_at": expires_at(year, m.birth_md, p.window_days), "granted_at": clock_now(),
    }  # fmt: skip
    if await store.claim(deps.db, claim) is None:
        winner = await store.get_claim(deps.db, claim_id)
        if verdict == "ok" and (winner is None or winner["policy_org"] != p.org):
            await live.uncharge(deps, p.org, year, m.member_no, p.value_cents)
        if winner is not None and not winner.get("granted"):
            await _grant(deps, winner)
        report.already += 1
        return
    await _grant(deps, claim)
    report.granted += 1
    report.new_claims.append(claim_id)


async def run_month(deps: Deps, year: int, month: int) -> RunReport:
    """Grant the month's birthdays; safe to run again and concurrently (see the module docstring)."""
    report = RunReport(year, month)
    policies = {org: from_doc(d) for org, d in (await store.enabled_policies(deps.db)).items()}
    if not policies:
        return report
    async for chunk in members.born_in_month(deps.db, month):
        claims = await store.claims_among(deps.db, [benefits.entitlement_id(source(year), m.member_no) for m in chunk])
        for m in chunk:
            p = nearest(policies, m.org_path)
            if p is None:
                continue
            if not m.bound_openid:
                report.not_bound.append(m.member_no)
                continue
            claim = claims.get(benefits.entitlement_id(source(year), m.member_no))
            await grant_member(deps, p, m, year, month, report, claim)
    return report


def month_of(at: datetime) -> tuple[int, int]:
    return at.year, at.month


def next_month(at: datetime) -> tuple[int, int]:
    return (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
