"""Competition test helpers: scopes for editors of given orgs, a competition walked to a given stage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.competitions import admin, entries, panel
from services.competitions.model import Competition
from services.editors import accounts as editors
from services.editors.scope import Scope
from services.orgs import store as orgs
from tests.console.conftest import PASSWORD

CITY, PROVINCE = "370100", "370000"
COUNTIES = ("370102", "370103", "370104", "370105", "370112")


async def scope_of(deps: Deps, org: str, role: str = "admin", username: str = "") -> Scope:
    o = await orgs.get(deps.db, org)
    assert o is not None
    name = username or f"{role}_{org}"
    return Scope(editors.Editor(name, name, role, org, o.path), org)


_HASH: list[str] = []  # argon2 takes ~0.1-0.5 s per hash on a busy core: hash the shared password once


async def judge_account(deps: Deps, username: str, org: str = CITY) -> editors.Editor:
    """A `judge` console account (password PASSWORD), written as editors.create writes one."""
    o = await orgs.get(deps.db, org)
    assert o is not None
    if await deps.db.editors.find_one({"_id": username}) is None:
        if not _HASH:
            _HASH.append(await editors.hash_password(PASSWORD))
        at = now()
        doc = {"_id": username, "name": username, "role": "judge", "org": org, "org_path": list(o.path)}
        doc |= {"password_hash": _HASH[0], "disabled": False, "created_at": at, "created_by": "test"}
        await deps.db.editors.insert_one({**doc, "updated_at": at, "password_changed_at": at})
    return editors.Editor(username, username, "judge", org, o.path)


def new_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "ankang",
        "title": "2026 安康杯竞赛",
        "org": CITY,
        "registration_deadline": (now() + timedelta(days=10)).isoformat(),
        "stages": [{"name": "隐患排查", "indicators": ["隐患排查数", "整改率"]}, {"name": "总结"}],
        "rubric": [
            {"name": "安全管理", "weight": 40, "min": 0, "max": 10},
            {"name": "隐患整改", "weight": 60, "min": 0, "max": 10},
        ],
        "rules": {"judges_per_entry": 5, "trim": 1, "publicity_days": 5, "awards": [{"name": "优胜单位", "count": 2}]},
    }
    data.update(over)
    return data


async def enterprises(deps: Deps, n: int) -> list[str]:
    """n enterprise orgs spread over the city's counties (codes extend the county code)."""
    codes = []
    for i in range(n):
        county = COUNTIES[i % len(COUNTIES)]
        code = f"{county}{i:04d}"
        if await orgs.get(deps.db, code) is None:
            await orgs.add(deps.db, code, f"企业{i}", county)
        codes.append(code)
    return codes


async def running(
    deps: Deps, n_entries: int, n_judges: int, also: tuple[tuple[str, str], ...] = (), **over: Any
) -> tuple[Competition, list[str]]:
    """A city competition with approved entries (`also`: extra (org, name) entrants) and judges, in progress."""
    city, prov = await scope_of(deps, CITY), await scope_of(deps, PROVINCE)
    comp = await admin.create(deps, city, new_data(**over))
    await admin.approve(deps, prov, comp.id)
    ids = []
    for code, name in [(c, f"{c} 班组") for c in await enterprises(deps, n_entries)] + list(also):
        e = await entries.register(deps, await scope_of(deps, code), comp.id, code, name)
        await entries.review_registration(deps, city, e["_id"], True)
        ids.append(e["_id"])
    for j in range(n_judges):
        await judge_account(deps, f"judge{j}", COUNTIES[j % len(COUNTIES)])
        await panel.add_judge(deps, city, comp.id, f"judge{j}")
    return await admin.start_stages(deps, city, comp.id), ids
