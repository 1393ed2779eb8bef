"""Instant-win lotteries (即开型): one Lua decision per play, prizes into the ledger.

The script (live._PLAY) picks the tier from a server-drawn number, checks the tier's stock released
so far, falls back to the fallback prize, records the play (one per member, or per member and day)
and appends it to a stream in the same step. Before the answer the play is written to MongoDB
(journaled) and its prize granted; the stream's write-behind (`flush_plays`) repeats both for a
process that died in between — all idempotent (play _id, entitlement id).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime
from typing import Any

from core.clock import TZ
from core.clock import now as clock_now
from core.deps import Deps
from core.errors import Conflict, Unavailable
from services import benefits
from services.lotteries import live, model, store
from services.lotteries.entering import load_visible, require_member
from services.lotteries.prizes import request
from services.lotteries.views import ms
from services.members import store as members
from services.members.sessions import CurrentUser


def _table(doc: dict[str, Any], given: list[int]) -> live.Table:
    fb = doc.get("fallback")
    return live.Table(
        state=doc["state"], start_ms=ms(doc["starts_at"]), end_ms=ms(doc["ends_at"]), slices=int(doc["slices"]),
        ppm=[int(t["ppm"]) for t in doc["tiers"]], stock=[int(t["count"]) for t in doc["tiers"]],
        fallback_stock=int(fb["count"]) if fb else 0, given=given,
    )  # fmt: skip


async def setup_instant(deps: Deps, doc: dict[str, Any], d: model.Definition) -> dict[str, Any]:
    doc = doc | {
        "starts_at": d.starts_at, "ends_at": d.ends_at, "per_day": d.per_day, "slices": d.slices,
        "fallback": asdict(d.fallback) if d.fallback else None,
    }  # fmt: skip
    await store.insert(deps.db, doc)
    await live.load_table(deps, doc["_id"], _table(doc, [0] * (len(d.tiers) + 1)))
    return doc


async def rebuild(deps: Deps, doc: dict[str, Any]) -> None:
    """Redis lost the table: counters and plays come back from the written-behind plays."""
    given = [0] * (len(doc["tiers"]) + 1)
    plays: dict[str, int] = {}
    async for p in store.plays_of(deps.db, doc["_id"]):
        plays[p["key"]] = int(p["outcome"])
        if p["outcome"] >= 0:
            given[p["outcome"]] += 1
    await live.restore_plays(deps, doc["_id"], plays)
    await live.load_table(deps, doc["_id"], _table(doc, given))  # the table last: plays are decided on it


def source_of(doc: dict[str, Any], day: str) -> str:
    return f"lot:{doc['_id']}:{day}" if doc.get("per_day") else f"lot:{doc['_id']}"


def prize_of(doc: dict[str, Any], outcome: int) -> dict[str, Any] | None:
    if outcome >= 1:
        return dict(doc["tiers"][outcome - 1])
    if outcome == 0 and doc.get("fallback"):
        return dict(doc["fallback"])
    return None


async def grant_outcome(deps: Deps, doc: dict[str, Any], member_id: str, outcome: int, day: str) -> str:
    tier = prize_of(doc, outcome)
    member = await members.get(deps.db, member_id) if tier else None
    if tier is None or member is None:
        return ""
    ent, _ = await benefits.grant(deps, request(doc, source_of(doc, day), member, tier, clock_now()))
    return ent.id


async def play(deps: Deps, user: CurrentUser, lottery_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    doc = await load_visible(deps, user, lottery_id)
    require_member(user)
    if doc["mode"] != "instant":
        raise Conflict("该抽奖需先报名，截止后统一开奖", code="wrong_mode")
    at = now or clock_now()
    day = at.astimezone(TZ).strftime("%Y%m%d")
    key = f"{user.member_id}:{day}" if doc.get("per_day") else user.member_id
    for _ in range(2):
        d = await live.play(deps, lottery_id, key, user.member_id, ms(at), secrets.randbelow(model.PPM), day)
        if d.verdict == "lost":
            if not await live.adopt_legacy(deps, lottery_id):  # kept under the previous release's names
                await rebuild(deps, doc)
            continue
        if d.verdict == "early":
            raise Conflict("抽奖尚未开始", code="not_started")
        if d.verdict == "ended":
            raise Conflict("抽奖已结束", code="ended")
        outcome = int(d.value)
        if d.verdict == "ok":  # journaled before the answer: a Redis loss is rebuilt from these exactly
            await store.save_plays(deps.db, [_play_doc(lottery_id, key, user.member_id, outcome, day, at)])
        ent_id = await grant_outcome(deps, doc, user.member_id, outcome, day)
        tier = prize_of(doc, outcome)
        return {
            "result": "won" if outcome >= 1 else "fallback" if tier else "none",
            "tier": tier["name"] if tier else "", "title": tier["title"] if tier else "谢谢参与",
            "entitlement_id": ent_id, "replayed": d.verdict == "dup",
            "again": "明天再来" if doc.get("per_day") else "",
        }  # fmt: skip
    raise Unavailable("抽奖服务正在恢复，请稍后重试", code="recovering")


def _play_doc(lottery_id: str, key: str, member_id: str, outcome: int, day: str, at: datetime) -> dict[str, Any]:
    return {"_id": f"{lottery_id}:{key}", "lottery_id": lottery_id, "key": key, "member_id": member_id,
            "outcome": outcome, "day": day, "at": at}  # fmt: skip


async def flush_plays(deps: Deps, batch: int = 500) -> int:
    """Every plays stream's head to `lottery_plays` (see `flush_stream`); how many plays it handled."""
    return sum([await flush_stream(deps, stream, batch) for stream in live.plays_streams()])


async def flush_stream(deps: Deps, stream: str, batch: int = 500) -> int:
    """Write the stream head to `lottery_plays`, grant its prizes, and only then delete it from the stream."""
    rows = await live.read_plays(deps, stream, batch)
    if not rows:
        return 0
    docs: dict[str, dict[str, Any] | None] = {}
    plays: list[dict[str, Any]] = []
    for _, f in rows:
        at = datetime.fromtimestamp(int(f["at"]) / 1000, tz=TZ)
        plays.append(_play_doc(f["lot"], f["key"], f["member"], int(f["outcome"]), f["day"], at))
    await store.save_plays(deps.db, plays)
    for p in plays:
        if p["outcome"] < 0:
            continue
        if p["lottery_id"] not in docs:
            docs[p["lottery_id"]] = await store.get(deps.db, p["lottery_id"])
        doc = docs[p["lottery_id"]]
        if doc is not None:
            await grant_outcome(deps, doc, p["member_id"], p["outcome"], p["day"])
    await live.ack_plays(deps, stream, [i for i, _ in rows])
    return len(rows)


async def stock(deps: Deps, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per tier: stock, given (live counters), for the console."""
    given = await live.given(deps, doc["_id"])
    rows = [{"name": t["name"], "title": t["title"], "stock": t["count"], "given": given.get(f"g{i}", 0)}
            for i, t in enumerate(doc["tiers"], start=1)]  # fmt: skip
    if doc.get("fallback"):
        rows.append({"name": "参与奖", "title": doc["fallback"]["title"], "stock": doc["fallback"]["count"],
                     "given": given.get("g0", 0)})  # fmt: skip
    return rows
