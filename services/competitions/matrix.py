"""The console's view of judging: who scores what, progress, judges whose scores stand out; exports.

Outliers: a judge's deviation is the mean, over the entries they scored, of their total minus the mean
of the other judges' totals on the same entry. A judge is flagged when that deviation lies more than two
standard deviations from the panel's mean deviation (with at least 5 scored entries and 3 judges) —
a hint for the owner to look at, never an automatic change.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from services.competitions import closing, store
from services.competitions.access import owned, record
from services.competitions.model import KINDS, STATUSES
from services.editors.scope import Scope

MIN_SCORED = 5


def deviations(rows: list[dict[str, Any]]) -> dict[str, float]:
    by_entry: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_entry[r["entry"]].append(r)
    diffs: dict[str, list[float]] = defaultdict(list)
    for scored in by_entry.values():
        if len(scored) < 2:
            continue
        for r in scored:
            others = [o["total"] for o in scored if o is not r]
            diffs[r["judge"]].append(r["total"] - sum(others) / len(others))
    return {j: sum(d) / len(d) for j, d in diffs.items() if len(d) >= MIN_SCORED}


def outliers(devs: dict[str, float]) -> set[str]:
    if len(devs) < 3:
        return set()
    mean, spread = statistics.fmean(devs.values()), statistics.pstdev(devs.values())
    return {j for j, d in devs.items() if spread > 0 and abs(d - mean) > 2 * spread}


async def overview(deps: Any, scope: Scope, cid: str) -> dict[str, Any]:
    doc, comp = await owned(deps.db, scope, cid)
    entries = await store.entries(deps.db, cid)
    return {
        "competition": {**doc, "status_name": STATUSES[comp.status], "kind_name": KINDS[comp.kind]},
        "entries": entries,
        "judges": await store.judges(deps.db, cid),
        "reports": await store.reports(deps.db, cid),
        "appeals": await store.appeals(deps.db, cid),
        "news": await store.news(deps.db, cid),
    }


async def judging_matrix(deps: Any, scope: Scope, cid: str) -> dict[str, Any]:
    await owned(deps.db, scope, cid)
    recused = {f"{cid}:{e['_id']}:{j}" for e in await store.entries(deps.db, cid) for j in e.get("recused") or ()}
    tasks = [a for a in await store.assignments(deps.db, cid) if a["_id"] not in recused]
    rows = [r for r in await store.scores(deps.db, cid) if "total" in r]
    done = {r["_id"] for r in await store.scores(deps.db, cid)}
    devs = deviations(rows)
    flagged = outliers(devs)
    judges: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for a in tasks:
        j = judges.setdefault(a["judge"], {"judge": a["judge"], "assigned": 0, "scored": 0})
        j["assigned"] += 1
        j["scored"] += a["_id"] in done
        cells[a["blind_code"]][a["judge"]] = "scored" if a["_id"] in done else "pending"
    for j in judges.values():
        j["deviation"] = round(devs[j["judge"]], 3) if j["judge"] in devs else None
        j["outlier"] = j["judge"] in flagged
    return {
        "progress": {"scored": len(done & {a["_id"] for a in tasks}), "assigned": len(tasks)},
        "judges": sorted(judges.values(), key=lambda j: j["judge"]),
        "cells": cells,
    }


async def export_sheets(deps: Any, scope: Scope, cid: str, what: str) -> tuple[str, dict[str, list[list[Any]]]]:
    """(file name, sheets) of the ranking or the commendation list; the export is audited."""
    _, comp = await owned(deps.db, scope, cid)
    if what == "commendations":
        rows = [
            [c["award"], c["rank"], c["name"], c["org"], c["score"]] for c in await closing.commendations(deps, cid)
        ]
        sheets = {"表彰名单": [["奖项", "名次", "参赛单位", "单位编码", "得分"], *rows]}
        name = f"{comp.title}-表彰名单"
    else:
        ranking = await closing.ranking(deps.db, comp)
        rows = [[r["rank"], r["name"], r["org"], r["score"], r["judges"]] for r in ranking]
        sheets = {"排名": [["名次", "参赛单位", "单位编码", "得分", "有效评分数"], *rows]}
        name = f"{comp.title}-排名"
    await record(deps.db, scope, "export", comp, f"导出{'表彰名单' if what == 'commendations' else '排名'}")
    return name, sheets
