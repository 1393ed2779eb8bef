"""Three instances on Redis Sentinel (a master, one replica, three sentinels): the master fails over in the
middle of a run of ballots and sign-ups, and nothing a worker was told succeeded is lost or counted twice.

A worker's phone retries a failed tap with the same Idempotency-Key (as the mini-program does), so every
tap ends acknowledged; the check is that MongoDB and the live counts hold exactly the acknowledged ones.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

from core.clock import now
from services.activities import definitions as activity_admin
from services.polls import definitions as polls
from tests.mp_activities.conftest import FORM, activity_def
from tests.scale.conftest import Answer, Phones, Scale, wait_for

USERS = 36
RETRY_FOR = 40.0  # seconds a phone keeps retrying one tap (Sentinel needs a few to switch)


async def _until_acknowledged(phones: Phones, path: str, body: object, token: str, key: str) -> tuple[Answer, int]:
    """POST until an answer that is not 503/no answer; returns it and how many attempts failed first."""
    failed = 0
    deadline = time.monotonic() + RETRY_FOR
    while True:
        got = await phones.call("POST", path, body, token=token, headers={"Idempotency-Key": key})
        if got.status not in (None, 503) or time.monotonic() > deadline:
            return got, failed
        failed += 1
        await asyncio.sleep(0.2)


async def test_a_sentinel_failover_mid_run_loses_no_acknowledged_ballot_or_sign_up(
    scale_sentinel: Scale, sentinel_phones: Phones
) -> None:
    scale, phones = scale_sentinel, sentinel_phones
    lab = scale.redis.sentinel
    assert lab is not None
    poll = await polls.create(scale.deps, "370000", {
        "title": "年度劳模评选", "options": [{"title": f"候选人{i}"} for i in range(1, 5)],
        "opens_at": now() - timedelta(hours=1), "closes_at": now() + timedelta(days=7), "publish": True,
        "limit": {"per": "poll", "count": 100}, "anti_brush": {"user_per_minute": 0, "ip_per_minute": 0},
    })  # fmt: skip
    activity = await activity_admin.create_activity(
        scale.deps, {**activity_def(capacity=10), "org": "370000"}, editor_org=None
    )
    await activity_admin.publish_activity(scale.deps, activity["_id"], editor_org=None)
    aid = activity["_id"]
    await scale.start(3)
    tokens = await phones.login_many([f"o_fo{i:03d}" for i in range(USERS)])
    ballot_path = f"/api/mp/polls/{poll['_id']}/ballots"
    acknowledged: list[str] = []
    retried = 0
    stop = asyncio.Event()

    async def voter(n: int, token: str) -> None:
        nonlocal retried
        seq = 0
        while not stop.is_set():
            seq += 1
            body = {"options": [f"o{(n + seq) % 4 + 1}"]}
            got, failed = await _until_acknowledged(phones, ballot_path, body, token, f"fo-{n:03d}-{seq:06d}")
            retried += failed
            assert got.status == 201, (got, scale.logs())
            acknowledged.append(got.body["ballot_id"])
            await asyncio.sleep(0.2)  # a tap every ~0.2 s per worker: well under the 100 allowed

    signups: dict[str, Answer] = {}

    async def signer(n: int, token: str) -> None:
        await asyncio.sleep(n * 0.1)  # spread over the run: some before, some during, some after the switch
        got, _ = await _until_acknowledged(
            phones, f"/api/mp/activities/{aid}/signups", {"session_id": "s1", "form": FORM}, token, f"su-{n:04d}xx"
        )
        assert got.status in (200, 201), (got, scale.logs())
        signups[token] = got

    load = [asyncio.create_task(voter(n, t)) for n, t in enumerate(tokens)]
    load += [asyncio.create_task(signer(n, t)) for n, t in enumerate(tokens)]
    try:
        await wait_for(_at_least(acknowledged, 200), 60, "ballots flowing before the failover")
        before, old_master = len(acknowledged), lab.master().port
        new_master = await asyncio.to_thread(lab.failover)
        assert new_master != old_master
        await wait_for(_at_least(acknowledged, len(acknowledged) + 200), 60, "ballots flowing after the failover")
        stop.set()
        await asyncio.gather(*load)
    finally:
        stop.set()
        for task in load:
            task.cancel()
    assert before < len(acknowledged)
    # Every tap was acknowledged once (a retry that met the first attempt's result got the same ballot).
    assert len(set(acknowledged)) == len(acknowledged)

    async def all_stored() -> bool:
        return await scale.deps.db.ballots.count_documents({"poll": poll["_id"]}) >= len(acknowledged)

    await wait_for(all_stored, 60, "every acknowledged ballot in MongoDB")
    stored = {d["_id"] async for d in scale.deps.db.ballots.find({"poll": poll["_id"]}, {"_id": 1})}
    assert stored == set(acknowledged), (len(stored), len(acknowledged))
    live = await polls.live(scale.deps).counts(poll["_id"]) or {}
    assert live["_ballots"] == len(acknowledged)

    assert len(signups) == USERS and len({x.body["id"] for x in signups.values()}) == USERS
    told = Counter(x.body["status"] for x in signups.values())
    assert told == {"confirmed": 10, "waitlisted": USERS - 10}

    async def signups_stored() -> bool:
        return await scale.deps.db.signups.count_documents({"activity_id": aid}) >= USERS

    await wait_for(signups_stored, 60, "every acknowledged sign-up in MongoDB")
    in_db = {d["_id"]: d["status"] async for d in scale.deps.db.signups.find({"activity_id": aid})}
    assert in_db == {x.body["id"]: x.body["status"] for x in signups.values()}
    print(f"failover {old_master} -> {new_master}: {len(acknowledged)} ballots acknowledged, {retried} retried taps")


def _at_least(items: list[str], n: int) -> object:
    async def check() -> bool:
        return len(items) >= n

    return check
