"""A push cut from the followers' roster when Redis loses the roster, or when its cutter dies mid-write:
the cut waits for the rebuild (or for the lease to run out) and then goes on from its last good chunk, so
every follower is in exactly one chunk, none left out."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from core import clock
from core.deps import Deps
from services.followers import roster, roster_live
from services.pushes import compose as pushes
from services.pushes import control as push_control
from services.pushes import runs_store as runs
from services.pushes import snapshot
from services.pushes.fanout import Fanout
from services.pushes.live import ready_key
from tests.pushes.conftest import FAST, PROVINCE, TEMPLATE, Clock, ids, seed_followers


async def _planned(deps: Deps, fake: Any, n: int) -> tuple[Fanout, dict[str, Any], list[str]]:
    """A template push to everyone, planned from a complete roster in one range, cut by nobody yet."""
    while not await roster.ready(deps.redis):
        await roster.rebuild_roster(deps.db, deps.redis)
    openids = ids("oLost", n)
    await seed_followers(deps, fake, openids)
    push = await pushes.create(deps, TEMPLATE, editor_org=PROVINCE, editor="editor1")
    await deps.db.pushes.update_one({"_id": push["id"]}, {"$set": {"status": "running"}})
    doc = await deps.db.pushes.find_one({"_id": push["id"]})
    run_id, _ = await push_control.start_run(deps, doc, clock.now())
    # cuts only: chunks of 10 written two at a time, so a group can be good and the next one lost
    offline = Fanout(deps, replace(FAST, snap_ranges=1, chunk_size=10, snap_group=2), business_clock=Clock())
    run = await runs.claim_snapshot(deps.db, run_id, offline.owner, clock.now(), offline.lease_until())
    assert run is not None and await snapshot.plan(offline, run)
    return offline, run, openids


async def _cut_once(fan: Fanout, run: dict[str, Any]) -> dict[str, Any]:
    rng = await runs.claim_range(fan.deps.db, run["_id"], fan.owner, clock.now(), fan.lease_until())
    assert rng is not None
    await snapshot.cut_range(fan, run, rng)
    (after,) = await runs.ranges_of(fan.deps.db, run["_id"])
    return after


async def _chunked(deps: Deps, run_id: str) -> Counter[str]:
    return Counter([o async for c in deps.db.push_chunks.find({"run": run_id}) for o in c["openids"]])


async def test_a_lost_roster_is_waited_for(deps: Deps, fake_wechat: Any) -> None:
    fan, run, openids = await _planned(deps, fake_wechat, 45)
    assert await roster_live.claim_rebuild(deps.redis, 600)  # the rebuild has not finished yet
    await roster_live.forget(deps.redis)
    await roster_live.start_rebuild(deps.redis)  # Redis came back empty
    rng = await _cut_once(fan, run)
    assert not rng["done"] and rng["k"] == 0 and await _chunked(deps, run["_id"]) == Counter()
    await roster_live.finish_rebuild(deps.redis, False)
    assert await roster.rebuild_roster(deps.db, deps.redis) >= 45
    rng = await _cut_once(fan, run)
    assert rng["done"] and rng["total"] == 45
    assert await _chunked(deps, run["_id"]) == Counter(openids)


async def test_a_roster_lost_while_it_is_read_resumes_after_its_last_good_chunk(
    deps: Deps, fake_wechat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fan, run, openids = await _planned(deps, fake_wechat, 45)
    reads = 0
    page = roster.page

    async def losing_page(redis: Any, *args: Any) -> list[str]:
        nonlocal reads
        reads += 1
        if reads == 14:  # lost and rebuilt (new generation) while the cut was under way, after a good group
            await roster_live.forget(deps.redis)
            await roster.rebuild_roster(deps.db, deps.redis)
            return []  # what the empty Redis answered
        return await page(redis, *args)

    monkeypatch.setattr(roster, "page", losing_page)
    rng = await _cut_once(fan, run)
    assert not rng["done"] and rng["k"] == 2  # stopped after its last good group of chunks
    monkeypatch.setattr(roster, "page", page)
    rng = await _cut_once(fan, run)
    assert rng["done"] and rng["total"] == 45
    assert await _chunked(deps, run["_id"]) == Counter(openids)  # each once, none left out


class Died(Exception):
    """The cutter's process ended here (kill -9 between two database writes)."""


async def test_a_cutter_dead_between_writing_chunks_and_its_checkpoint_leaves_none_out_and_none_twice(
    deps: Deps, fake_wechat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fan, run, openids = await _planned(deps, fake_wechat, 45)
    checkpoint = runs.checkpoint_range

    async def dying(db: Any, rid: str, owner: str, **kw: Any) -> bool:
        if kw["k"] == 4:  # the second group's two chunks are inserted, its checkpoint never written
            raise Died
        return await checkpoint(db, rid, owner, **kw)

    monkeypatch.setattr(runs, "checkpoint_range", dying)
    with pytest.raises(Died):
        await _cut_once(fan, run)
    monkeypatch.setattr(runs, "checkpoint_range", checkpoint)
    (left,) = await runs.ranges_of(deps.db, run["_id"])
    assert left["k"] == 2 and await deps.db.push_chunks.count_documents({"run": run["_id"]}) == 4
    await deps.db.push_ranges.update_one({"_id": left["_id"]}, {"$set": {"lease_until": runs.EPOCH}})  # lease over

    heir = Fanout(deps, fan.tuning, business_clock=Clock())
    rng = await _cut_once(heir, run)
    assert rng["done"] and rng["total"] == 45 and rng["owner"] == heir.owner
    assert await _chunked(deps, run["_id"]) == Counter(openids)  # each once, none left out
    seqs = sorted([c["seq"] async for c in deps.db.push_chunks.find({"run": run["_id"]})])
    queued = await deps.redis.lrange(ready_key(run["_id"]), 0, -1)
    assert sorted(int(s) for s in queued) == seqs  # the dead cutter's unqueued chunks queued once, with the rest
