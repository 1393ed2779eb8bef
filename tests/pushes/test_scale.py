"""The push path at scale, on several instances (separate Deps sharing Redis and MongoDB, like
processes): token loss mid-push, the audience cut in parallel ranges, a dead holder's chunk taken
over within the lease, and the Redis Cluster key layout of a run."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from core.deps import Deps, build_deps, close_deps
from services.pushes import live as push_live
from services.pushes import runs_store as runs
from services.pushes.audiences import split_points
from services.pushes.fanout import Fanout
from storage.keys import slot
from tests.conftest import make_settings
from tests.pushes.conftest import FAST, TEMPLATE, Clock, ids, records, seed_followers, send_now, wait_for, wait_run

Peers = Callable[[int], Any]


@pytest.fixture
async def peers(deps: Deps, redis_url: str, mongo_url: str, fake_wechat: Any) -> AsyncIterator[Peers]:
    """`await peers(n)`: n more instances' Deps (own Redis and MongoDB clients, same data)."""
    made: list[Deps] = []

    async def make(n: int) -> list[Deps]:
        for _ in range(n):
            settings = make_settings(redis_url, mongo_url, fake_wechat.url, **{"mongo.db": deps.settings.mongo.db})
            made.append(build_deps(settings, redis_url=redis_url, mongo_url=mongo_url))
        return made[-n:]

    yield make
    for d in made:
        await close_deps(d)


async def _stop(*engines: Fanout) -> None:
    await asyncio.gather(*(e.stop(grace=5) for e in engines))


async def test_tokens_invalidated_mid_push_leave_nobody_failed(deps: Deps, fake_wechat: Any, peers: Peers) -> None:
    """WeChat revokes the access_token again and again while two instances send: retries meet dead
    tokens twice in a row. Nobody is marked failed: every recipient gets the message exactly once."""
    state = fake_wechat.state
    openids = ids("oTok", 300)
    await seed_followers(deps, fake_wechat, openids)
    state.set_delay("cgi-bin/message/template/send", 0.01)
    (other,) = await peers(1)
    engines = [Fanout(d, replace(FAST, window=12), business_clock=Clock()) for d in (deps, other)]
    push_id = await send_now(deps, TEMPLATE)
    for engine in engines:
        engine.start()

    async def revoke() -> None:  # for the first two thirds of the push
        while state.delivered_count("template") < 200:
            await asyncio.sleep(0.03)
            state.invalidate_tokens()

    revoker = asyncio.create_task(revoke())
    try:
        await wait_run(deps, push_id, within=60)
    finally:
        revoker.cancel()
        await _stop(*engines)
    assert state.count("cgi-bin/message/template/send", errcode=40001) > 30  # the storm did happen
    assert state.delivered_count("template") == 300 and state.duplicate_deliveries("template") == []
    recs = await records(deps, push_id)
    assert len(recs) == 300 and Counter(r["status"] for r in recs.values()) == {"sent": 300}
    run = await deps.db.push_runs.find_one({"push": push_id})
    assert run["totals"] == {"sent": 300, "failed": 0, "skipped": 0, "unknown": 0}


async def test_three_instances_share_the_snapshot_exactly(deps: Deps, fake_wechat: Any, peers: Peers) -> None:
    """Three fan-outs cut one audience in parallel ranges: each range by one of them, between them
    every follower in exactly one chunk, and every follower gets the message once."""
    openids = ids("oSnap", 1200)
    await seed_followers(deps, fake_wechat, openids)
    tuning = replace(FAST, snap_ranges=12, chunk_size=25)
    engines = [Fanout(d, tuning, business_clock=Clock()) for d in (deps, *await peers(2))]
    push_id = await send_now(deps, TEMPLATE)
    for engine in engines:
        engine.start()
    try:
        await wait_run(deps, push_id, within=60)
    finally:
        await _stop(*engines)
    run = await deps.db.push_runs.find_one({"push": push_id})
    ranges = await runs.ranges_of(deps.db, run["_id"])
    assert len(ranges) == 12 and all(r["done"] for r in ranges)
    cutters = Counter(r["owner"] for r in ranges)
    assert len(cutters) >= 2, cutters  # shared, not one instance cutting alone
    in_chunks = Counter([o async for c in deps.db.push_chunks.find({"run": run["_id"]}) for o in c["openids"]])
    assert sorted(in_chunks) == openids and set(in_chunks.values()) == {1}  # the snapshot is exact
    assert run["snap"]["total"] == 1200 and run["snap"]["seq"] == await deps.db.push_chunks.count_documents({})
    assert fake_wechat.state.delivered_count("template") == 1200
    assert fake_wechat.state.duplicate_deliveries("template") == []
    assert [r["openid"] async for r in _report(deps, push_id)] == openids  # the report keeps audience order


async def _report(deps: Deps, push_id: str) -> AsyncIterator[dict[str, Any]]:
    from services.pushes import progress

    async for row in progress.report_rows(deps, push_id, editor_org="370000"):
        yield row


async def test_a_dead_holders_chunk_is_taken_over_within_the_lease(deps: Deps, fake_wechat: Any, peers: Peers) -> None:
    """Instance A dies mid-chunk (stops renewing, gives nothing back) while B's only worker is busy
    with a long chunk: B's rescuer takes A's chunk over within lease + 2 s; nobody gets it twice."""
    state = fake_wechat.state
    openids = ids("oTake", 160)
    await seed_followers(deps, fake_wechat, openids)
    state.set_delay("cgi-bin/message/template/send", 0.1)
    tuning = replace(FAST, workers=1, window=1, chunk_size=40, lease_seconds=2.0, orphan_scan_seconds=0.3,
                     snap_ranges=1)  # fmt: skip
    (other,) = await peers(1)
    a = Fanout(deps, tuning, business_clock=Clock())
    b = Fanout(other, tuning, business_clock=Clock())
    push_id = await send_now(deps, TEMPLATE)
    run_id = (await deps.db.pushes.find_one({"_id": push_id}))["current_run"]
    a.start()
    held = await _holding(deps, run_id, a.owner, wm=1)
    b.start()
    await _holding(deps, run_id, b.owner, wm=1)  # B's worker is busy: ~4 s per chunk
    for task in a._tasks:  # noqa: SLF001 - kill -9 in-process: no release, no more renewals
        task.cancel()
    died = time.monotonic()
    lease_until = (await deps.db.push_chunks.find_one({"_id": held}))["lease_until"]

    async def taken() -> bool:
        doc = await deps.db.push_chunks.find_one({"_id": held})
        return bool(doc and doc["owner"] == b.owner)

    try:
        await wait_for(taken, 10, "B taking A's chunk over")
        took = time.monotonic() - died
        assert took <= tuning.lease_seconds + 2, took
        await wait_run(deps, push_id, within=60)
    finally:
        await _stop(b)
    assert lease_until is not None
    assert state.delivered_count("template") == 160 and state.duplicate_deliveries("template") == []
    recs = await records(deps, push_id)
    assert Counter(r["status"] for r in recs.values()) == {"sent": 160}


async def _holding(deps: Deps, run_id: str, owner: str, wm: int) -> str:
    """Wait until `owner` holds a chunk of the run and has attempted some of it; its id."""
    found: list[str] = []

    async def check() -> bool:
        doc = await deps.db.push_chunks.find_one({"run": run_id, "owner": owner, "state": "leased", "wm": {"$gte": wm}})
        if doc:
            found.append(doc["_id"])
        return bool(doc)

    await wait_for(check, 20, f"{owner} holding a chunk")
    return found[0]


def test_a_runs_keys_share_one_slot() -> None:
    """Every script of a run touches its mirror, rate and ready keys: one hash slot (Redis Cluster)."""
    for run_id in ("p0a1b2c3d4-sx1k2", "p9f8e7d6c5-abc", "x"):
        keys = (push_live.run_key(run_id), push_live.rate_key(run_id), push_live.ready_key(run_id))
        assert len({slot(k) for k in keys}) == 1, keys
    assert len({slot(push_live.run_key(f"p{i}-x")) for i in range(50)}) > 40  # runs spread over the slots


def test_split_points_cover_the_key_space_evenly() -> None:
    numbered = [f"o_fake_{i:07d}" for i in range(100_000)]
    points = split_points(numbered[0], numbered[-1], 8)
    assert points == sorted(points) and len(points) == 7
    edges = [0, *(sum(1 for o in numbered if o <= p) for p in points), len(numbered)]
    sizes = [edges[i + 1] - edges[i] for i in range(8)]
    assert max(sizes) - min(sizes) <= len(numbered) // 50, sizes
    assert split_points("oA", "oA", 4) == [] and split_points("oA", "oB", 1) == []
