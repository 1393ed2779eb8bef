"""Three instances push to two audiences while the scheduler leader and then a worker are killed with
kill -9: the surviving instances take the dead ones' chunks and the leadership over, the second push
(armed before the kill) is fired by the new leader, and every recipient gets exactly one message and
exactly one delivery record."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from core import clock
from scheduler.leader import LEADER_KEY
from services.pushes import compose as pushes
from services.pushes.live import SETTINGS_KEY
from tests.pushes.conftest import JINAN, PROVINCE, QINGDAO, TEMPLATE, ids, seed_followers, wait_run
from tests.scale.conftest import Instance, Scale, wait_for

PER_PUSH = 2000
LEADER_SECONDS = 2.0
LEASE_SECONDS = 2.0


async def _scheduled(scale: Scale, org: str, at_seconds: float, title: str) -> str:
    at = clock.now() + timedelta(seconds=at_seconds)
    data = {**TEMPLATE, "title": title, "audience": {"kind": "orgs", "orgs": [org]},
            "schedule": {"kind": "at", "at": at.isoformat()}}  # fmt: skip
    push = await pushes.create(scale.deps, data, editor_org=PROVINCE, editor="editor1")
    await pushes.submit(scale.deps, push["id"], editor_org=PROVINCE, editor="editor1")
    return str(push["id"])


async def _leader(scale: Scale) -> Instance | None:
    owner = await scale.deps.redis.get(LEADER_KEY)  # host:pid:token
    if not owner:
        return None
    pid = str(owner).split(":")[1]
    return next((i for i in scale.live() if str(i.pid) == pid), None)


async def test_kill_minus_nine_of_the_leader_and_of_a_worker_mid_push_delivers_each_recipient_once(
    scale: Scale,
) -> None:
    state = scale.fake.state
    jinan, qingdao = ids("oJn", PER_PUSH), ids("oQd", PER_PUSH)
    await seed_followers(scale.deps, scale.fake, jinan, org_path=(PROVINCE, JINAN))
    await seed_followers(scale.deps, scale.fake, qingdao, org_path=(PROVINCE, QINGDAO))
    # WeChat answers in 50 ms and the shared rate is 300/s: a push takes several seconds, so the kills
    # land mid-push; small chunks and a 2 s lease make the hand-over quick.
    state.set_delay("cgi-bin/message/template/send", 0.05)
    await scale.deps.redis.hset(SETTINGS_KEY, mapping={
        "rate_template": 300, "chunk_size": 100, "wm_step": 20, "lease_seconds": LEASE_SECONDS,
        "leader_seconds": LEADER_SECONDS, "idle_poll": 0.1, "orphan_scan_seconds": 0.3, "supervise_seconds": 0.3,
        "flush_seconds": 0.2,
    })  # fmt: skip
    await scale.start(3)
    first = await _scheduled(scale, JINAN, 2, "济南职工通知")
    # Armed now, due after the leader's kill: the next leader must fire it (once).
    second_at = time.monotonic() + 20
    second = await _scheduled(scale, QINGDAO, 20, "青岛职工通知")

    def delivered(n: int) -> Any:
        async def check() -> bool:
            return bool(state.delivered_count("template") >= n)

        return check

    await wait_for(delivered(PER_PUSH // 4), 60, "the first push under way")
    leader = await _leader(scale)
    assert leader is not None, scale.logs()
    await leader.kill()
    killed_at = state.delivered_count("template")
    assert killed_at < PER_PUSH, "the first push finished before the kill: slow it down"
    survivors = scale.live()
    assert len(survivors) == 2

    async def new_leader() -> bool:
        return (await _leader(scale)) in survivors

    started = time.monotonic()
    await wait_for(new_leader, LEADER_SECONDS + 5, "a surviving instance leading")
    print(f"leader {leader.name} killed at {killed_at} deliveries; new leader after {time.monotonic() - started:.1f}s")

    # Then a worker (not the new leader) in the middle of the rest.
    await wait_for(delivered(killed_at + PER_PUSH // 4), 60, "deliveries after the leader's kill")
    current = await _leader(scale)
    worker = next(i for i in survivors if i is not current)
    await worker.kill()
    assert state.delivered_count("template") < PER_PUSH, "the first push finished before the worker's kill"
    assert time.monotonic() < second_at, "the kills came after the second push was due: the machine is too slow"

    await wait_run(scale.deps, first, "done", within=120)
    # The first instance killed comes back (as a supervisor would restart it) and joins the second push.
    await scale.restart(leader)
    await wait_run(scale.deps, second, "done", within=120)

    assert state.delivered_count("template") == 2 * PER_PUSH, scale.logs()
    assert state.duplicate_deliveries("template") == []
    recs = [d async for d in scale.deps.db.push_deliveries.find({}, {"status": 1})]
    assert len(recs) == 2 * PER_PUSH == len({r["_id"] for r in recs})
    assert {r["status"] for r in recs} == {"sent"}
    # The dead instances held chunks: some were taken over (claimed more than once) and finished.
    taken_over = await scale.deps.db.push_chunks.count_documents({"attempts": {"$gte": 2}, "state": "done"})
    assert taken_over >= 1
    assert await scale.deps.db.push_chunks.count_documents({"state": {"$ne": "done"}}) == 0
