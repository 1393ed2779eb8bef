"""Redis lost a batch: its live state is rebuilt from MongoDB, so nobody is served twice and the
stock, the buckets and the pool stay exact."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.clock import now
from core.deps import Deps
from core.errors import ServiceError
from services.coupons import admin, grabbing, jobs
from services.coupons import live as coupon_live
from services.coupons.recovery import plan_state
from storage.key_moves import move_keys
from tests.coupons.conftest import LIXIA, SHIZHONG, add_members, scope, spec


async def test_after_redis_loses_everything_grants_continue_exactly(deps: Deps) -> None:
    lixia = await add_members(deps, LIXIA, 30, "L")
    shizhong = await add_members(deps, SHIZHONG, 10, "S")
    batch = await admin.create(deps, scope(), spec(20))  # 历下 15, 市中 5
    bid = batch["_id"]
    first = await asyncio.gather(*(grabbing.grab(deps, u, bid, "") for u in lixia[:10] + shizhong[:2]))
    assert len(first) == 12
    await jobs.drain(deps)
    await deps.redis.flushall()  # a new, empty Redis
    again = await asyncio.gather(*(_try(deps, u, bid) for u in lixia + shizhong), return_exceptions=False)
    codes = [getattr(r, "code", "ok") for r in again]
    assert codes.count("already_granted") == 12 and codes.count("ok") == 8
    await jobs.drain(deps)
    docs = await deps.db.entitlements.find({"source": f"cpn:{bid}"}).to_list()
    assert len(docs) == 20 and len({d["member_id"] for d in docs}) == 20
    assert (
        sum(1 for d in docs if d["bucket"] == "370102") == 15 and sum(1 for d in docs if d["bucket"] == "370103") == 5
    )
    watch = await admin.watch(deps, scope(), bid)
    assert watch.granted_redis == 20 and watch.agrees


async def _try(deps: Deps, user: object, bid: str) -> object:
    try:
        return await grabbing.grab(deps, user, bid, "")  # type: ignore[arg-type]
    except ServiceError as exc:
        return exc


def test_the_plan_moves_closed_waves_leftovers_and_revoked_coupons_to_the_pool() -> None:
    at = now()
    w1, w2 = at - timedelta(hours=3), at - timedelta(minutes=5)
    batch = {
        "waves": [
            {"opens_at": w1, "closes_at": w1 + timedelta(hours=1)},
            {"opens_at": w2, "closes_at": at + timedelta(hours=1)},
        ],
        "buckets": ["a", "b"],
        "alloc": {"1:a": 3, "1:b": 2, "1:_pool": 1, "2:a": 3, "2:b": 2, "2:_pool": 1},
    }
    grants = [
        {"member_id": "m1", "bucket": "a", "wave": 1, "status": "granted", "risk": "safe"},
        {"member_id": "m2", "bucket": "a", "wave": 1, "status": "held", "risk": "held"},
        {"member_id": "m3", "bucket": "_pool", "wave": 1, "status": "revoked", "risk": "safe"},
        {"member_id": "m4", "bucket": "b", "wave": 2, "status": "granted", "risk": "unknown"},
    ]
    state = plan_state(batch, grants, int(at.timestamp() * 1000))
    assert (state["opened"], state["closed"]) == (2, 1)
    # pool: allotments 1 + 1, wave 1's leftovers (a: 1, b: 2), minus its grant, plus the revoked one
    assert state["stock"] == {"a": 3, "b": 1, "_pool": 5, "got:a": 2, "got:_pool": 1, "got:b": 1, "_granted": 4}
    assert state["served"]["m2"].startswith("h") and state["served"]["m3"].startswith("x")
    assert state["served"]["m4"] == "u\tb\t2"


async def test_a_batch_and_grants_left_by_the_previous_release_carry_on_exactly(deps: Deps) -> None:
    """Upgrade to the Redis Cluster layout with grants not yet flushed: the batch found only under its
    old key names is moved (not rebuilt from MongoDB, which lacks those grants), and the old stream is
    drained into MongoDB."""
    lixia = await add_members(deps, LIXIA, 30, "L")
    shizhong = await add_members(deps, SHIZHONG, 10, "S")
    batch = await admin.create(deps, scope(), spec(20))
    bid = batch["_id"]
    await asyncio.gather(*(grabbing.grab(deps, u, bid, "") for u in lixia[:10] + shizhong[:2]))
    # As the previous release left it: `cpn:<bid>:*` and the one `cpn:grants` stream, nothing flushed.
    old = [(coupon_live._k(bid, p), f"cpn:{bid}:{p}") for p in ("meta", "alloc", "stock", "served")]
    assert await move_keys(deps.redis, [*old, (coupon_live.stream_of(bid), coupon_live.LEGACY_STREAM)]) == 5
    assert await deps.db.entitlements.count_documents({"source": f"cpn:{bid}"}) == 0
    again = await asyncio.gather(*(_try(deps, u, bid) for u in lixia + shizhong))
    codes = [getattr(r, "code", "ok") for r in again]
    assert codes.count("already_granted") == 12 and codes.count("ok") == 8
    await jobs.drain(deps)
    docs = await deps.db.entitlements.find({"source": f"cpn:{bid}"}).to_list()
    assert len(docs) == 20 and len({d["member_id"] for d in docs}) == 20
    assert not await deps.redis.exists(coupon_live.LEGACY_STREAM)
    watch = await admin.watch(deps, scope(), bid)
    assert watch.granted_redis == 20 and watch.agrees
