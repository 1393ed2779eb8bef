"""Editors' use cases for draw-mode lotteries: create (commit), close (freeze + root + beacon named),
draw, publish (公示), appeal (disqualify; the next in the same order moves up), finalize (grant).

Every step is one guarded state change (open → closed → drawn → publicized → final); every change is
audited. The server seed never reaches the audit log or an editor's screen before the draw.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from core.clock import now as clock_now
from core.deps import Deps
from core.errors import BadInput, Conflict
from services.editors import audit, audited
from services.editors.scope import Scope
from services.lotteries import beacon, draw, frozen, live, model, store
from services.lotteries.prizes import grant_draw_prizes
from services.lotteries.views import editor_view, load_in_scope, ms

KIND = audited.Kind("lottery", "抽奖")
PUBLICITY = timedelta(days=7)


async def create(deps: Deps, scope: Scope, data: dict[str, Any], form_key: str = "") -> str:
    at = clock_now()
    owner = await scope.owner(deps.db, data.get("org"))
    vendor = await scope.owner(deps.db, data.get("vendor_org") or owner.code)
    d = model.parse(data | {"vendor_org": vendor.code}, at, owner.code)

    async def make(checked: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_id": secrets.token_hex(6), "org": owner.code, "org_path": list(owner.path), "mode": d.mode,
            "title": d.title, "description": d.description, "tiers": [asdict(t) for t in d.tiers],
            "vendor_org": d.vendor_org, "prize_days": d.prize_days, "created_at": at,
            "created_by": scope.editor.username, "state": "open",
        }  # fmt: skip
        if d.mode == "draw":
            assert d.entries_until is not None and d.beacon is not None
            seed = draw.new_server_seed()
            doc |= {
                "entries_until": d.entries_until, "reserves": d.reserves, "beacon": asdict(d.beacon),
                "server_seed": seed, "commitment": draw.commitment(seed), "disqualified": [],
            }  # fmt: skip
            await store.insert(deps.db, doc)
            await live.rebuild_entries(deps, doc["_id"], "open", ms(d.entries_until), [])
        else:
            from services.lotteries.instant import setup_instant

            doc = await setup_instant(deps, doc, d)
        return {k: v for k, v in doc.items() if k != "server_seed"}  # never in the audit log

    return await audited.create(deps, scope, KIND, {"org": owner.code}, form_key or secrets.token_hex(8), make)


async def _audit(deps: Deps, scope: Scope, action: str, doc: dict[str, Any], summary: str, after: Any) -> None:
    await audit.record(
        deps.db, scope.editor, f"lottery.{action}", "lottery", doc["_id"], doc["org_path"],
        summary=f"{summary}“{doc['title']}”", after=after, ip=scope.ip,
    )  # fmt: skip


def _require(doc: dict[str, Any], state: str, what: str) -> None:
    if doc.get("mode") != "draw":
        raise Conflict("即开型抽奖没有开奖流程", code="wrong_mode")
    if doc["state"] != state:
        raise Conflict(f"当前状态不能{what}", code="wrong_state")


async def freeze_entries(deps: Deps, doc: dict[str, Any]) -> list[str]:
    """Stop entries in Redis and make MongoDB hold exactly the frozen set; returns the sorted codes."""
    held = await live.close(deps, doc["_id"])
    if held < 0:  # Redis lost the lottery: MongoDB has every acknowledged entry
        pairs = [p async for p in store.member_codes(deps.db, doc["_id"])]
        await live.rebuild_entries(deps, doc["_id"], "closed", ms(doc["entries_until"]), pairs)
    entries = await live.all_entries(deps, doc["_id"])
    pending = await live.unwritten(deps, doc["_id"])  # decided, but the process may have died before MongoDB
    at = clock_now()
    rows = [
        {"_id": f"{doc['_id']}:{m}", "lottery_id": doc["_id"], "member_id": m, "code": entries[m], "entered_at": at,
         "recovered": True}
        for m in pending if m in entries
    ]  # fmt: skip
    for start in range(0, len(rows), 5_000):  # $setOnInsert: an entry written meanwhile keeps its own document
        await store.save_entries(deps.db, rows[start : start + 5_000])
    await live.forget_unwritten(deps, doc["_id"], pending)
    return sorted(entries.values())


async def close(
    deps: Deps, scope: Scope, lottery_id: str, *, beacon_description: str = "", now: datetime | None = None
) -> dict[str, Any]:
    scope.require_write()
    at = now or clock_now()
    doc = await load_in_scope(deps, scope, lottery_id)
    _require(doc, "open", "截止报名")
    if at < doc["entries_until"]:
        raise Conflict("报名尚未截止，截止后才能封存名单", code="entries_still_open")
    codes = await freeze_entries(deps, doc)
    spec = dict(doc["beacon"])
    if spec["kind"] == "drand":
        spec["round"], spec["expected_at"] = await beacon.name_round(spec["base_url"], at)
    elif beacon_description.strip():
        spec["description"] = beacon_description.strip()[:200]
    changes = {"closed_at": at, "entry_count": len(codes), "merkle_root": draw.merkle_root(codes), "beacon": spec}
    after = await store.transition(deps.db, lottery_id, "open", "closed", changes)
    if after is None:
        raise Conflict("该抽奖已被其他操作截止", code="wrong_state")
    await _audit(deps, scope, "close", after, "截止报名并公布名单默克尔根", changes)
    return editor_view(after)


async def run_draw(deps: Deps, scope: Scope, lottery_id: str, *, beacon_value: str = "") -> dict[str, Any]:
    scope.require_write()
    doc = await load_in_scope(deps, scope, lottery_id)
    _require(doc, "closed", "开奖")
    spec = dict(doc["beacon"])
    if spec["kind"] == "drand":
        value = await beacon.fetch_round(spec["base_url"], int(spec["round"]))
    else:
        value = beacon.manual_value(beacon_value)
    spec |= {"value": value.value, "signature": value.signature}
    secret = await store.get(deps.db, lottery_id, with_secret=True)
    assert secret is not None
    codes = await frozen.sorted_codes(deps, lottery_id)
    if len(codes) != doc["entry_count"] or draw.merkle_root(codes) != doc["merkle_root"]:
        raise Conflict("封存的名单与公布的默克尔根不一致，已停止开奖，请联系技术人员", code="entries_changed")
    tiers = [(t["name"], int(t["count"])) for t in doc["tiers"]]
    seed = draw.draw_seed(secret["server_seed"], value.value, doc["merkle_root"])
    order = draw.draw_order(codes, seed, sum(n for _, n in tiers) + int(doc["reserves"]))
    winners = [{"tier": t, "code": c} for t, c in draw.winners(order, set(), tiers)]
    changes = {"beacon": spec, "order": order, "winners": winners, "drawn_at": clock_now()}
    after = await store.transition(deps.db, lottery_id, "closed", "drawn", changes)
    if after is None:
        raise Conflict("该抽奖已开奖", code="wrong_state")
    await _audit(deps, scope, "draw", after, "开奖", {"beacon": spec, "winners": winners})
    return editor_view(after)


async def publish(deps: Deps, scope: Scope, lottery_id: str) -> dict[str, Any]:
    scope.require_write()
    doc = await load_in_scope(deps, scope, lottery_id)
    _require(doc, "drawn", "公示")
    at = clock_now()
    after = await store.transition(
        deps.db, lottery_id, "drawn", "publicized", {"publicized_at": at, "publicity_until": at + PUBLICITY}
    )
    if after is None:
        raise Conflict("该抽奖已公示", code="wrong_state")
    await _audit(deps, scope, "publish", after, "公示中奖名单", {"publicity_until": after["publicity_until"]})
    return editor_view(after)


async def disqualify(deps: Deps, scope: Scope, lottery_id: str, code: str, reason: str) -> dict[str, Any]:
    """An upheld appeal: the winner is out and everyone after moves up one place — never a redraw."""
    scope.require_write()
    code, reason = code.strip().upper(), reason.strip()
    if not reason or len(reason) > 200:
        raise BadInput("请填写取消资格的理由（不超过 200 字）", code="invalid_reason")
    for _ in range(5):  # optimistic: the update applies only to the list of disqualified it was computed from
        doc = await load_in_scope(deps, scope, lottery_id)
        _require(doc, "publicized", "处理申诉")
        if code not in {w["code"] for w in doc["winners"]}:
            raise BadInput(f"抽签码 {code} 不在当前中奖名单中", code="not_a_winner")
        out = {d["code"] for d in doc["disqualified"]} | {code}
        tiers = [(t["name"], int(t["count"])) for t in doc["tiers"]]
        order = list(doc["order"])
        needed = sum(n for _, n in tiers) + len(out)
        if needed > len(order) and len(order) < doc["entry_count"]:  # reserves used up: continue the same order
            secret = await store.get(deps.db, lottery_id, with_secret=True)
            assert secret is not None
            seed = draw.draw_seed(secret["server_seed"], doc["beacon"]["value"], doc["merkle_root"])
            order = draw.draw_order(await frozen.sorted_codes(deps, lottery_id), seed, needed)
        winners = [{"tier": t, "code": c} for t, c in draw.winners(order, out, tiers)]
        entry = {"code": code, "reason": reason, "at": clock_now(), "by": scope.editor.username}
        after = await store.update_guarded(
            deps.db,
            {"_id": lottery_id, "state": "publicized", "disqualified": {"$size": len(doc["disqualified"])}},
            {"$push": {"disqualified": entry}, "$set": {"winners": winners, "order": order}},
        )
        if after is not None:
            summary = f"申诉成立，取消抽签码 {code} 的中奖资格"
            await _audit(deps, scope, "appeal", after, summary, {"reason": reason, "winners": winners})
            return editor_view(after)
    raise Conflict("中奖名单正在被其他操作修改，请刷新后重试", code="busy")


async def finalize(deps: Deps, lottery_id: str, *, now: datetime | None = None, scope: Scope | None = None) -> bool:
    """After 7 days of 公示: stop appeals (publicized → finalizing), grant the winners as they now stand
    (idempotent; a crash here is resumed by the finalizer), then mark the lottery final."""
    at = now or clock_now()
    doc = await (load_in_scope(deps, scope, lottery_id) if scope else store.get(deps.db, lottery_id))
    if doc is None or doc.get("mode") != "draw" or doc["state"] not in ("publicized", "finalizing"):
        return False
    if doc["state"] == "publicized":
        if at < doc["publicity_until"]:
            raise Conflict("公示期未满 7 天，不能结束公示", code="publicity_running")
        doc = await store.transition(deps.db, lottery_id, "publicized", "finalizing", {"finalizing_at": at})
        if doc is None:
            return False
    granted = await grant_draw_prizes(deps, doc)
    after = await store.transition(deps.db, lottery_id, "finalizing", "final", {"finalized_at": at, "granted": granted})
    if after is not None:
        await audit.record(
            deps.db, scope.editor if scope else None, "lottery.final", "lottery", lottery_id, doc["org_path"],
            summary=f"公示期满，发放奖品“{doc['title']}”", after={"granted": granted}, ip=scope.ip if scope else "",
        )  # fmt: skip
    return after is not None
