"""An audience cut from the followers' roster: however many ranges the plan makes, every follower of the
audience is in exactly one range, and a range resumed from a chunk's key goes on right after it."""

from __future__ import annotations

import random
import string

import pytest

from core.deps import Deps
from services.followers import roster, roster_live
from services.pushes import audiences

PROVINCE, JINAN, LIXIA, QINGDAO = "370000", "370100", "370102", "370200"
ALPHABET = string.ascii_letters + string.digits + "-_"


def openids(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["oAbCd" + "".join(rnd.choice(ALPHABET) for _ in range(23)) for _ in range(n)]


async def cut(deps: Deps, sets: list[str], n: int, size: int) -> tuple[list[tuple[str | None, str | None]], list[str]]:
    ranges = await audiences.plan_roster_ranges(deps.redis, sets, n, size)
    seen: list[str] = []
    for lo, hi in ranges:
        async for batch in audiences.roster_batches(deps.redis, sets, lo, hi, size):
            assert 0 < len(batch.openids) <= size
            seen += batch.openids
    return ranges, seen


@pytest.fixture
async def world(deps: Deps) -> dict[str, list[str]]:
    people = {"jinan": openids(1200, 1), "lixia": openids(500, 2), "qingdao": openids(900, 3), "none": openids(77, 4)}
    paths = {"jinan": [PROVINCE, JINAN], "lixia": [PROVINCE, JINAN, LIXIA], "qingdao": [PROVINCE, QINGDAO],
             "none": []}  # fmt: skip
    for group, ids in people.items():
        await roster_live.fill(deps.redis, dict.fromkeys(ids, paths[group]))
    return people


@pytest.mark.parametrize("n", [1, 3, 16, 40])
async def test_every_follower_is_in_exactly_one_range(deps: Deps, world: dict[str, list[str]], n: int) -> None:
    everyone = [o for ids in world.values() for o in ids]
    ranges, seen = await cut(deps, roster.set_names([PROVINCE]), n, 20)
    assert sorted(seen) == sorted(everyone)  # each once
    assert len(ranges) <= max(1, n) and (n < 3 or len(ranges) > 1)
    points = [hi for _, hi in ranges[:-1]]
    assert ranges[0][0] is None and ranges[-1][1] is None  # open-ended: a newer follower still has a range
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))  # adjacent
    assert points == sorted(points) and len(set(points)) == len(points)  # in key order, none empty

    _, seen_jinan = await cut(deps, roster.set_names([JINAN]), n, 20)
    assert sorted(seen_jinan) == sorted(world["jinan"] + world["lixia"])
    # several orgs, one inside another: each follower once
    _, seen_orgs = await cut(deps, roster.set_names([LIXIA, QINGDAO, JINAN]), n, 20)
    assert sorted(seen_orgs) == sorted(world["jinan"] + world["lixia"] + world["qingdao"])


async def test_a_range_resumed_from_a_chunk_goes_on_right_after_it(deps: Deps, world: dict[str, list[str]]) -> None:
    sets = roster.set_names([PROVINCE])
    ranges = await audiences.plan_roster_ranges(deps.redis, sets, 8, 20)
    lo, hi = ranges[2]
    whole = [b async for b in audiences.roster_batches(deps.redis, sets, lo, hi, 20)]
    assert len(whole) >= 4
    resumed = [b async for b in audiences.roster_batches(deps.redis, sets, whole[1].resume, hi, 20)]
    assert [o for b in resumed for o in b.openids] == [o for b in whole[2:] for o in b.openids]


async def test_a_follower_who_leaves_is_not_cut(deps: Deps, world: dict[str, list[str]]) -> None:
    gone = world["lixia"][:5]
    for openid in gone:
        await roster_live.settle(deps.redis, openid, None, await roster_live.begin(deps.redis, openid))
    _, seen = await cut(deps, roster.set_names([LIXIA]), 4, 20)
    assert sorted(seen) == sorted(world["lixia"][5:])
