"""Instant win: stock never below zero under concurrent plays, one play per member (or day), stock released
over time, the fallback prize, prizes in the ledger, and the write-behind that survives a Redis loss."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict
from services import benefits
from services.lotteries import admin, instant, store
from services.lotteries import live as lottery_live
from storage.key_moves import move_keys
from tests.lotteries.conftest import add_members, editor_scope, member_user


def instant_def(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mode": "instant",
        "title": "新春即开抽奖",
        "starts_at": (now() - timedelta(minutes=1)).isoformat(),
        "ends_at": (now() + timedelta(hours=4)).isoformat(),
        "tiers": [{"name": "一等奖", "title": "电饭煲", "count": 10, "percent": 100, "value_cents": 19900}],
        "fallback": {"title": "10 元话费券", "count": 50, "value_cents": 1000},
    }
    data.update(over)
    return data


async def test_concurrent_plays_never_exceed_the_stock(deps: Deps) -> None:
    lot = await admin.create(deps, editor_scope(), instant_def())
    nos = [f"P{i:04d}" for i in range(200)]
    await add_members(deps, nos)
    results = await asyncio.gather(*(instant.play(deps, member_user(n), lot) for n in nos))
    kinds = [r["result"] for r in results]
    assert kinds.count("won") == 10 and kinds.count("fallback") == 50 and kinds.count("none") == 140
    granted = [await benefits.get(deps, benefits.entitlement_id(f"lot:{lot}", n)) for n in nos]
    assert sum(1 for g in granted if g is not None) == 60
    doc = await store.get(deps.db, lot)
    assert doc is not None
    stock = {row["name"]: row for row in await instant.stock(deps, doc)}
    assert stock["一等奖"]["given"] == 10 and stock["参与奖"]["given"] == 50


async def test_one_play_per_member_or_per_day(deps: Deps) -> None:
    await add_members(deps, ["D0001"])
    once = await admin.create(deps, editor_scope(), instant_def())
    first = await instant.play(deps, member_user("D0001"), once)
    again = await instant.play(deps, member_user("D0001"), once)
    assert again["replayed"] and again["result"] == first["result"] and not first["replayed"]

    three_days = (now() + timedelta(days=3)).isoformat()
    daily = await admin.create(deps, editor_scope(), instant_def(per_day=True, ends_at=three_days))
    today = await instant.play(deps, member_user("D0001"), daily)
    same_day = await instant.play(deps, member_user("D0001"), daily)
    tomorrow = await instant.play(deps, member_user("D0001"), daily, now=now() + timedelta(days=1))
    assert same_day["replayed"] and not tomorrow["replayed"]
    assert today["entitlement_id"] != tomorrow["entitlement_id"]  # one prize per day, each its own entitlement


async def test_stock_is_released_in_slices_over_time(deps: Deps) -> None:
    start = now()
    lot = await admin.create(
        deps, editor_scope(),
        instant_def(starts_at=start.isoformat(), ends_at=(start + timedelta(hours=4)).isoformat(), slices=4,
                    tiers=[{"name": "一等奖", "title": "电饭煲", "count": 8, "percent": 100}], fallback=None),
    )  # fmt: skip
    nos = [f"S{i:03d}" for i in range(12)]
    await add_members(deps, nos)
    first_hour = [await instant.play(deps, member_user(n), lot) for n in nos[:6]]
    assert [r["result"] for r in first_hour].count("won") == 2  # a quarter of 8
    later = [await instant.play(deps, member_user(n), lot, now=start + timedelta(hours=3, minutes=1)) for n in nos[6:]]
    assert [r["result"] for r in later].count("won") == 6  # everything released by the fourth slice
    with pytest.raises(Conflict):
        await instant.play(deps, member_user("S999"), lot, now=start + timedelta(hours=5))


async def test_counters_and_plays_survive_a_redis_loss(deps: Deps) -> None:
    lot = await admin.create(deps, editor_scope(), instant_def())
    nos = [f"L{i:03d}" for i in range(30)]
    await add_members(deps, nos)
    for n in nos[:15]:
        await instant.play(deps, member_user(n), lot)
    await deps.redis.flushall()  # before any write-behind ran: every answered play is in MongoDB already
    replay = await instant.play(deps, member_user(nos[0]), lot)
    assert replay["replayed"]  # the member's play came back from MongoDB
    rest = [await instant.play(deps, member_user(n), lot) for n in nos[15:]]
    assert [r["result"] for r in rest].count("won") == 0  # the first 15 plays took all 10
    won = await deps.db.entitlements.count_documents({"source": f"lot:{lot}", "title": {"$regex": "一等奖"}})
    assert won == 10
    assert await instant.flush_plays(deps) == 15  # the stream since the loss; idempotent with what is stored
    assert await instant.flush_plays(deps) == 0
    assert await deps.db.lottery_plays.count_documents({"lottery_id": lot}) == 30


async def test_a_lottery_left_by_the_previous_release_carries_on(deps: Deps) -> None:
    """Upgrade to the Redis Cluster layout: the table, counters and plays kept under `lot:{<id>}:*` are
    moved on first use (not rebuilt), and the old `lot:plays` stream is drained into MongoDB."""
    lot = await admin.create(deps, editor_scope(), instant_def())
    nos = [f"U{i:03d}" for i in range(20)]
    await add_members(deps, nos)
    first = [await instant.play(deps, member_user(n), lot) for n in nos[:12]]
    # As the previous release left it: old key names, plays not yet flushed.
    pairs = [(lottery_live._iw(lot, p), lottery_live._k(lot, p)) for p in ("iw", "plays")]
    pairs.append((lottery_live.plays_stream(lot), lottery_live.LEGACY_PLAYS_STREAM))
    assert await move_keys(deps.redis, pairs) == 3
    again = await instant.play(deps, member_user(nos[0]), lot)
    assert again["replayed"] and again["result"] == first[0]["result"]
    rest = [await instant.play(deps, member_user(n), lot) for n in nos[12:]]
    assert [r["result"] for r in first + rest].count("won") == 10
    assert await instant.flush_plays(deps) == 20  # 12 from the old stream, 8 from the partition
    assert not await deps.redis.exists(lottery_live.LEGACY_PLAYS_STREAM)
    assert await deps.db.lottery_plays.count_documents({"lottery_id": lot}) == 20
