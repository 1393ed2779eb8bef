"""How a lottery is shown: to editors, to workers, and as the published draw anyone can recompute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.deps import Deps
from core.errors import NotFound
from services.editors.scope import Scope
from services.lotteries import draw, frozen, store

STATE_NAMES = {
    "open": "报名中", "closed": "已截止，待开奖", "drawn": "已开奖，待公示", "publicized": "公示中",
    "finalizing": "公示期满，发放奖品中", "final": "已结束",
}  # fmt: skip
PUBLIC_STATES = ("publicized", "finalizing", "final")


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if isinstance(dt, datetime) else None


async def load_in_scope(deps: Deps, scope: Scope, lottery_id: str) -> dict[str, Any]:
    return scope.check_doc(await store.get(deps.db, lottery_id), "抽奖")


def beacon_view(spec: dict[str, Any], drawn: bool) -> dict[str, Any]:
    out = {
        "kind": spec.get("kind", ""),
        "base_url": spec.get("base_url", ""),
        "round": spec.get("round"),
        "expected_at": _iso(spec.get("expected_at")),
        "description": spec.get("description", ""),
        "value": spec.get("value", "") if drawn else "",
    }
    return out


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "title": doc["title"],
        "mode": doc["mode"],
        "org": doc["org"],
        "state": doc["state"],
        "state_name": STATE_NAMES.get(doc["state"], doc["state"]),
        "entries_until": _iso(doc.get("entries_until")),
        "starts_at": _iso(doc.get("starts_at")),
        "ends_at": _iso(doc.get("ends_at")),
        "created_at": _iso(doc["created_at"]),
    }


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What every worker who can see the lottery may read (winners' codes only once publicized)."""
    drawn = doc["state"] in ("drawn", *PUBLIC_STATES)
    shown = doc["state"] in PUBLIC_STATES
    return summary(doc) | {
        "description": doc.get("description", ""),
        "tiers": [
            {"name": t["name"], "title": t["title"], "count": t["count"], "percent": t.get("ppm", 0) / 10_000}
            for t in doc["tiers"]
        ],
        "commitment": doc.get("commitment", ""),
        "entry_count": doc.get("entry_count"),
        "merkle_root": doc.get("merkle_root", ""),
        "beacon": beacon_view(doc.get("beacon") or {}, drawn),
        "winners": doc.get("winners", []) if shown else [],
        "disqualified": [{"code": d["code"], "reason": d["reason"]} for d in doc.get("disqualified", [])]
        if shown
        else [],
        "publicity_until": _iso(doc.get("publicity_until")),
        "per_day": bool(doc.get("per_day")),
    }


def editor_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = public_view(doc)
    view |= {
        "winners": doc.get("winners", []),
        "disqualified": [
            {"code": d["code"], "reason": d["reason"], "by": d.get("by", ""), "at": _iso(d.get("at"))}
            for d in doc.get("disqualified", [])
        ],
        "reserves": doc.get("reserves", 0),
        "granted": doc.get("granted"),
        "org_path": doc["org_path"],
    }
    return view


async def publication(deps: Deps, lottery_id: str) -> dict[str, Any]:
    """The published draw (tools/verify_draw's input): only once publicized — the seed is revealed then."""
    doc = await store.get(deps.db, lottery_id, with_secret=True)
    if doc is None or doc.get("mode") != "draw" or doc["state"] not in PUBLIC_STATES:
        raise NotFound("该抽奖尚未公示开奖结果", code="not_published")
    spec = doc["beacon"]
    return {
        "lottery_id": doc["_id"],
        "title": doc["title"],
        "algorithm": draw.ALGORITHM,
        "commitment": doc["commitment"],
        "server_seed": doc["server_seed"],
        "beacon": {
            "kind": spec["kind"],
            "base_url": spec.get("base_url", ""),
            "round": spec.get("round"),
            "description": spec.get("description", ""),
            "value": spec["value"],
            "signature": spec.get("signature", ""),
        },  # fmt: skip
        "merkle_root": doc["merkle_root"],
        "entries": await frozen.cached_codes(deps, lottery_id),
        "tiers": [{"name": t["name"], "count": t["count"]} for t in doc["tiers"]],
        "order": doc["order"],
        "disqualified": [{"code": d["code"], "reason": d["reason"]} for d in doc["disqualified"]],
        "winners": doc["winners"],
    }
