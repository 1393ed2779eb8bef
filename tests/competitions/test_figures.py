"""The issue's figures: 1,000 entries x 30 judges with random affiliations and conflicts, through the services.

Entries, orgs and judges are written straight to their collections (setting the scene fast); assignment,
scoring and results go through the real use cases. Recusal is re-checked here from the raw paths with
the definition (recusal.intersects), not through the code that made the assignment.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from core.deps import Deps
from services.competitions import closing, judging, panel, results, store
from services.competitions.recusal import intersects
from services.editors.accounts import Editor
from tests.competitions.helpers import CITY, COUNTIES, scope_of

N_ENTRIES, N_JUDGES, QUOTA = 1000, 30, 5
SERVICE_ENTRIES = 40


async def scene(deps: Deps, rng: random.Random) -> str:
    city = await scope_of(deps, CITY)
    from services.competitions import admin
    from tests.competitions.helpers import new_data

    comp = await admin.create(deps, city, new_data(rules={"judges_per_entry": QUOTA, "trim": 1}))
    await admin.approve(deps, await scope_of(deps, "370000"), comp.id)
    await admin.start_stages(deps, city, comp.id)
    entries = []
    for i in range(N_ENTRIES):
        county = rng.choice(COUNTIES)
        group = f"{county}{rng.randint(0, 9):02d}"  # a township: several entrants share it
        path = (
            ["370000", CITY, county, group, f"{group}{i:04d}"]
            if rng.random() < 0.7
            else ["370000", CITY, county, f"{county}{i:04d}"]
        )
        entries.append(
            {
                "_id": f"e{i:04d}",
                "competition": comp.id,
                "org": path[-1],
                "org_path": path,
                "name": f"参赛队{i}",
                "status": "approved",
                "blind_code": f"B{i:05d}",
            }
        )
    await deps.db.comp_entries.insert_many(entries)
    pool = [e["org_path"] for e in entries] + [["370000"], ["370000", "370200", "370202"]]
    for j in range(N_JUDGES):
        # a prefix of a random path: the province, the owner, a county, a township or one entrant
        affiliations = [(p := rng.choice(pool))[: rng.randint(1, len(p))] for _ in range(rng.randint(1, 3))]
        conflicts = rng.sample([e["_id"] for e in entries], 15) + [rng.choice(entries)["org"]]
        doc = {"_id": f"{comp.id}:j{j:02d}", "competition": comp.id, "username": f"j{j:02d}", "name": f"评委{j}"}
        await store.upsert_judge(deps.db, {**doc, "affiliations": affiliations, "conflicts": conflicts})
    return comp.id


async def test_thousand_entries_thirty_judges(deps: Deps) -> None:
    rng = random.Random(16)
    cid = await scene(deps, rng)
    await panel.start_judging(deps, await scope_of(deps, CITY), cid)

    entries = {e["_id"]: e for e in await store.entries(deps.db, cid)}
    judges = {j["username"]: j for j in await store.judges(deps.db, cid)}
    rows = await store.assignments(deps.db, cid)
    violations = [
        a
        for a in rows
        if a["entry"] in judges[a["judge"]]["conflicts"]
        or entries[a["entry"]]["org"] in judges[a["judge"]]["conflicts"]
        or any(intersects(entries[a["entry"]]["org_path"], p, CITY) for p in judges[a["judge"]]["affiliations"])
    ]
    assert violations == []
    per_entry = Counter(a["entry"] for a in rows)
    assert set(per_entry) == set(entries) and set(per_entry.values()) == {QUOTA}
    assert len({(a["entry"], a["judge"]) for a in rows}) == len(rows)  # no judge twice on an entry
    loads = Counter(a["judge"] for a in rows)
    mean = N_ENTRIES * QUOTA / N_JUDGES
    assert len(loads) == N_JUDGES and all(abs(n - mean) <= 1 for n in loads.values()), loads
    recusals = sum(
        any(intersects(e["org_path"], p, CITY) for p in j["affiliations"])
        for e in entries.values()
        for j in judges.values()
    )
    assert recusals > 1000  # the scene really constrains the assignment

    await score_and_publish(deps, rng, cid, rows)


async def score_and_publish(deps: Deps, rng: random.Random, cid: str, rows: list[dict[str, Any]]) -> None:
    """Every assignment gets its score row. The first SERVICE_ENTRIES entries are scored through
    judging.submit, 250 at a time concurrently (results refreshed row by row); the other entries' rows
    are written raw (the MongoDB-wire server takes ~14 ms per submission on a shared CI core; the
    all-through-the-service run is `make bench-competitions`) and their results stored by publishing."""
    by_service = {e for e in sorted({a["entry"] for a in rows})[:SERVICE_ENTRIES]}

    def values() -> dict[str, float]:
        return {"c1": rng.randint(0, 20) / 2, "c2": float(rng.randint(0, 10))}

    async def score(a: dict[str, Any]) -> None:
        judge = Editor(a["judge"], "评委", "judge", CITY, ("370000", CITY))
        await judging.submit(deps, judge, cid, a["blind_code"], values())

    served = [a for a in rows if a["entry"] in by_service]
    for start in range(0, len(served), 250):
        await asyncio.gather(*(score(a) for a in served[start : start + 250]))
    raw = [
        {"_id": a["_id"], "competition": cid, "entry": a["entry"], "judge": a["judge"], "values": values()}
        for a in rows
        if a["entry"] not in by_service
    ]
    await deps.db.comp_scores.insert_many(raw)
    assert await deps.db.comp_scores.count_documents({"competition": cid}) == N_ENTRIES * QUOTA
    comp = await closing.publish(deps, await scope_of(deps, CITY), cid)
    assert comp.status == "publicity"
    rebuilt, stored = await results.rebuild(deps.db, comp), await results.stored(deps.db, comp)
    assert len(rebuilt) == N_ENTRIES and all(r.score is not None for r in rebuilt.values())
    assert rebuilt == stored
    assert await closing.rebuild_equals_stored(deps, cid)
