"""Results derived from the raw score rows, never edited by hand.

An entry's counted rows are its score rows minus those of judges an appeal decision voided or who recused
themselves (the rows stay; both are audited and listed on the entry). `version` = rows + voids +
recusals, all append-only, so a stored result computed from more information is never overwritten by
one computed from less (concurrent submissions).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.clock import now
from services.competitions import store
from services.competitions.model import Competition
from services.competitions.scoring import EntryResult, entry_result


def _result(comp: Competition, entry: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[EntryResult, int]:
    voided = set(entry.get("voided") or ()) | set(entry.get("recused") or ())
    counted = [r["values"] for r in rows if r["judge"] not in voided]
    res = entry_result(entry["_id"], comp.rubric, counted, min_judges=comp.rules.judges_per_entry, trim=comp.rules.trim)
    return res, len(rows) + len(entry.get("voided") or ()) + len(entry.get("recused") or ())


def _doc(comp: Competition, res: EntryResult, version: int) -> dict[str, Any]:
    return {
        "_id": f"{comp.id}:{res.entry}",
        "competition": comp.id,
        "entry": res.entry,
        "score": res.score,
        "judges": res.judges,
        "version": version,
        "computed_at": now(),
    }


async def refresh_entry(db: Any, comp: Competition, entry: dict[str, Any]) -> EntryResult:
    res, version = _result(comp, entry, await store.scores(db, comp.id, entry["_id"]))
    await store.save_result(db, _doc(comp, res, version))
    return res


async def rebuild(db: Any, comp: Competition) -> dict[str, EntryResult]:
    """Every approved entry's result, recomputed from the raw rows (nothing is written)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in await store.scores(db, comp.id):
        rows[row["entry"]].append(row)
    return {e["_id"]: _result(comp, e, rows[e["_id"]])[0] for e in await store.entries(db, comp.id, "approved")}


async def store_all(db: Any, comp: Competition) -> dict[str, EntryResult]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in await store.scores(db, comp.id):
        rows[row["entry"]].append(row)
    out, docs = {}, []
    for e in await store.entries(db, comp.id, "approved"):
        res, version = _result(comp, e, rows[e["_id"]])
        out[e["_id"]] = res
        docs.append(_doc(comp, res, version))
    await store.save_results(db, docs)
    return out


async def stored(db: Any, comp: Competition) -> dict[str, EntryResult]:
    return {d["entry"]: EntryResult(d["entry"], d["score"], d["judges"]) for d in await store.results(db, comp.id)}
