"""Editors and birthday gifts: the policy of their org, next month's cost in advance, the exceptions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.clock import now as clock_now
from core.deps import Deps
from services.birthdays import live, store
from services.birthdays.granting import RunReport, ensure_budget, next_month
from services.birthdays.jobs import run_and_notify
from services.birthdays.policy import Policy, from_doc, nearest, parse
from services.editors import audit
from services.editors.scope import Scope
from services.members import store as members


async def save_policy(deps: Deps, scope: Scope, data: dict[str, Any]) -> Policy:
    """Create or change the working org's policy (audited); a budget change applies at once."""
    scope.require_write()
    owner = await scope.owner(deps.db)
    vendor = await scope.owner(deps.db, data.get("vendor_org") or owner.code)
    fields = parse(data) | {
        "org_path": list(owner.path), "vendor_org": vendor.code, "updated_at": clock_now(),
        "updated_by": scope.editor.username,
    }  # fmt: skip
    before, after = await store.save_policy(deps.db, owner.code, fields)
    policy = from_doc(after)
    await live.set_budget(deps, owner.code, clock_now().year, policy.budget_cents)
    await audit.record(
        deps.db, scope.editor, "birthday_policy.create" if before is None else "birthday_policy.update",
        "birthday_policy", owner.code, owner.path, summary=f"设置生日礼品“{policy.title}”",
        before=before, after=after, ip=scope.ip,
    )  # fmt: skip
    return policy


async def policies(deps: Deps, scope: Scope) -> list[Policy]:
    return [from_doc(d) for d in await store.policies_in(deps.db, scope.org)]


async def policy_of(deps: Deps, scope: Scope) -> Policy | None:
    doc = await store.policy(deps.db, scope.org)
    return from_doc(doc) if doc else None


@dataclass
class PolicyCost:
    org: str
    title: str
    value_cents: int
    budget_cents: int
    spent_cents: int
    members: int = 0  # bound members born in the month this policy covers
    granted_already: int = 0
    cost_cents: int = 0  # what the month's new gifts will cost
    over_budget: int = 0  # members the remaining budget will not cover


@dataclass
class Preview:
    year: int
    month: int
    rows: list[PolicyCost] = field(default_factory=list)
    not_bound: list[dict[str, str]] = field(default_factory=list)
    no_birthday: int = 0


async def preview(deps: Deps, scope: Scope, year: int | None = None, month: int | None = None) -> Preview:
    """Next month's cost per policy, before the job runs (read-only)."""
    if year is None or month is None:
        year, month = next_month(clock_now())
    all_policies = {org: from_doc(d) for org, d in (await store.enabled_policies(deps.db)).items()}
    out = Preview(year, month, no_birthday=await members.count_without_birthday(deps.db, scope.org))
    rows: dict[str, PolicyCost] = {}
    async for chunk in members.born_in_month(deps.db, month, org=scope.org):
        claimed = await store.claims_among(deps.db, [f"bday:{year}:{m.member_no}" for m in chunk])
        for m in chunk:
            p = nearest(all_policies, m.org_path)
            if p is None:
                continue
            if not m.bound_openid:
                out.not_bound.append({"member_no": m.member_no, "name": m.name, "org": m.org})
                continue
            row = rows.get(p.org)
            if row is None:
                spent = sum((await store.spent_by_month(deps.db, p.org, year)).values())
                row = rows[p.org] = PolicyCost(p.org, p.title, p.value_cents, p.budget_cents, spent)
            row.members += 1
            if f"bday:{year}:{m.member_no}" in claimed:
                row.granted_already += 1
            elif row.spent_cents + row.cost_cents + p.value_cents <= p.budget_cents:
                row.cost_cents += p.value_cents
            else:
                row.over_budget += 1
    out.rows = sorted(rows.values(), key=lambda r: r.org)
    return out


async def run_now(deps: Deps, scope: Scope, year: int, month: int) -> RunReport:
    """An editor reruns a month by hand (e.g. after late bindings): idempotent like the scheduled run."""
    scope.require_write()
    report = await run_and_notify(deps, year, month)
    owner = await scope.owner(deps.db)
    counts = {k: v for k, v in asdict(report).items() if k != "new_claims"}
    await audit.record(
        deps.db, scope.editor, "birthday_policy.run", "birthday_policy", scope.org, owner.path,
        summary=f"补发 {year} 年 {month} 月生日礼品", after=counts, ip=scope.ip,
    )  # fmt: skip
    return report


__all__ = ["ensure_budget", "policies", "policy_of", "preview", "run_now", "save_policy"]
