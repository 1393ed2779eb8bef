"""The followers' roster in Redis (what push audiences are cut from) follows every follower change made
over the real message path, and stays exact through a crash between MongoDB and Redis, a rebuild after
Redis lost it, and a follower who leaves while the rebuild runs."""

from __future__ import annotations

import asyncio
import time

import pytest

from core import clock
from core.deps import Deps
from services.followers import following as followers
from services.followers import roster, roster_live
from services.followers import store as follower_store
from tests.wechat_bot.conftest import SimFactory

PROVINCE, JINAN, LIXIA, WEIHAI = "370000", "370100", "370102", "371000"


async def members(deps: Deps, org: str) -> set[str]:
    """Everyone in `org`'s sets, every partition (as a push cuts them)."""
    sets = roster.set_names([org])
    found: set[str] = set()
    for p in range(roster.PARTITIONS):
        found.update(await roster.page(deps.redis, p, sets, None, None, 100_000))
    return found


async def built(deps: Deps) -> None:
    """A roster rebuilt from MongoDB now (here, or by the service's own background turn)."""
    await roster_live.forget(deps.redis)
    deadline = time.monotonic() + 20
    while not await roster.ready(deps.redis):
        assert time.monotonic() < deadline, "the roster was not rebuilt"
        await roster.rebuild_roster(deps.db, deps.redis)
        await asyncio.sleep(0.05)


async def test_follow_bind_and_leave_move_the_follower_in_the_roster(make_sim: SimFactory, deps: Deps) -> None:
    await built(deps)
    sim = make_sim("safe")
    await sim.send_event("o_r_1", "subscribe", EventKey="qrscene_org:370102", Ticket="tk")
    await sim.send_event("o_r_2", "subscribe")
    assert {"o_r_1", "o_r_2"} <= await members(deps, PROVINCE)
    assert "o_r_1" in await members(deps, JINAN) and "o_r_1" in await members(deps, LIXIA)
    assert "o_r_2" not in await members(deps, JINAN)  # unbound: only the province's "everyone"

    await sim.send_event("o_r_1", "SCAN", EventKey="org:371000", Ticket="tk2")  # moves to Weihai
    assert "o_r_1" in await members(deps, WEIHAI)
    assert "o_r_1" not in await members(deps, JINAN) | await members(deps, LIXIA)

    await sim.send_event("o_r_1", "unsubscribe")
    assert "o_r_1" not in await members(deps, PROVINCE) | await members(deps, WEIHAI)
    await sim.send_event("o_r_1", "SCAN", EventKey="org:370100", Ticket="tk3")  # a late scan of one who left
    assert "o_r_1" not in await members(deps, PROVINCE) | await members(deps, JINAN)
    await sim.send_event("o_r_1", "subscribe")  # back, keeping no binding (it was deleted when they left)
    assert "o_r_1" in await members(deps, PROVINCE) and "o_r_1" not in await members(deps, WEIHAI)
    marks = [await deps.redis.zcard(f"msg:ro:{t}:dirty") for t in map(roster_live.tag_of, range(roster.PARTITIONS))]
    assert sum(marks) == 0  # every change settled


async def test_followers_first_seen_by_a_message_or_a_location_join_the_roster(
    make_sim: SimFactory, deps: Deps
) -> None:
    await built(deps)
    sim = make_sim("plain")
    await sim.send_text("o_r_old", "你好")  # followed before the service listened: no subscribe event
    await followers.flush_seen(deps.db, deps.redis, "test")
    await sim.send_event("o_r_loc", "LOCATION", Latitude="36.65", Longitude="117.12", Precision="30")
    assert {"o_r_old", "o_r_loc"} <= await members(deps, PROVINCE)


async def test_a_crash_between_mongodb_and_the_roster_is_healed(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    await built(deps)
    # Died after writing MongoDB, before the roster: the mark stays.
    await roster_live.begin(deps.redis, "o_r_crash")
    await follower_store.subscribed(deps.db, "o_r_crash", clock.now(), "", [PROVINCE, JINAN])
    assert "o_r_crash" not in await members(deps, JINAN)
    assert await roster.heal_roster(deps.db, deps.redis) == 0  # too recent: it may still be under way
    monkeypatch.setattr(roster, "ROSTER_HEAL_AFTER", 0.0)
    await asyncio.sleep(0.002)
    assert await roster.heal_roster(deps.db, deps.redis) == 1
    assert "o_r_crash" in await members(deps, JINAN)
    # A mark overtaken by a newer change of the same follower is left to that change.
    token = await roster_live.begin(deps.redis, "o_r_crash")
    await asyncio.sleep(0.002)
    await roster_live.begin(deps.redis, "o_r_crash")
    assert await roster_live.heal(deps.redis, {"o_r_crash": (None, token)}) == 0
    assert "o_r_crash" in await members(deps, JINAN)


async def test_the_roster_is_rebuilt_from_mongodb_and_a_leave_meanwhile_wins(deps: Deps) -> None:
    for i in range(30):
        path = [PROVINCE, JINAN] if i % 2 else [PROVINCE, WEIHAI]
        await follower_store.subscribed(deps.db, f"o_r_b{i:02d}", clock.now(), "", path)
    await follower_store.unsubscribed(deps.db, "o_r_b00", clock.now())
    await deps.redis.flushall()  # Redis lost everything
    assert not await roster.ready(deps.redis)
    assert await roster.rebuild_roster(deps.db, deps.redis) == 29
    assert {f"o_r_b{i:02d}" for i in range(1, 30, 2)} == await members(deps, JINAN)
    assert {f"o_r_b{i:02d}" for i in range(2, 30, 2)} == await members(deps, WEIHAI)

    # A rebuild reads MongoDB, a follower leaves, then the rebuild writes what it read: they stay gone.
    await roster_live.forget(deps.redis)
    await roster_live.start_rebuild(deps.redis)
    await followers.leave(deps.db, deps.redis, "o_r_b01")
    await roster_live.fill(deps.redis, {"o_r_b01": [PROVINCE, JINAN], "o_r_b03": [PROVINCE, JINAN]})
    await roster_live.finish_rebuild(deps.redis, True)
    assert await members(deps, JINAN) == {"o_r_b03"}
