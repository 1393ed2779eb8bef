"""Coherent state across instances: an editor's cancel or close on instance A holds on B and C at once.

Sign-ups and ballots stream at B and C (whose caches hold the activity / poll as open) while an editor
cancels the activity / closes the poll in A's console. What a worker would check afterwards: nothing
sent after the editor's answer was accepted, nothing stored as confirmed after it, no "报名成功" message
after it; and B's and C's pages show the change without waiting for a cache to expire. A last test
loses the invalidation message on purpose: the version poll heals the cache within its interval.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.activities import definitions as activity_admin
from services.activities.flusher import flush_all
from services.activities.signups import CACHE as ACTIVITY_CACHE
from services.polls import ballots_store as ballots
from services.polls import definitions as poll_admin
from services.polls import flusher as ballot_flusher
from storage import invalidation
from tests.coherence.conftest import POLL_SECONDS, Instance
from tests.mp.polls_helpers import make_poll

SESSIONS = 10
USERS_PER_INSTANCE = 30
WORKERS = 6


@dataclass
class Sent:
    instance: str
    sent_at: float
    answered_at: float
    status: int
    code: str


async def stream(inst: Instance, work: list[tuple[str, str, Any]], log: list[Sent], gap: float = 0.0) -> None:
    """Send (token, path, body) items with a few concurrent workers, recording when each left and came back."""
    queue = list(reversed(work))

    async def worker() -> None:
        while queue:
            token, path, body = queue.pop()
            sent = time.time()
            status, answer = await inst.call("POST", path, body, token)
            log.append(Sent(inst.name, sent, time.time(), status, str((answer or {}).get("code", ""))))
            if gap:
                await asyncio.sleep(gap)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def tokens_for(inst: Instance, fake: Any, prefix: str) -> list[str]:
    return list(await asyncio.gather(*(inst.login(fake, f"{prefix}{i}") for i in range(USERS_PER_INSTANCE))))


async def when_accepted(log: list[Sent], accepted: int, status: int) -> None:
    while sum(1 for s in log if s.status == status) < accepted:  # noqa: ASYNC110 - a plain list, filled by the streams
        await asyncio.sleep(0.01)


async def make_activity(deps: Deps) -> dict[str, Any]:
    at = now()
    data = {
        "org": "370000",  # province-wide: every logged-in worker sees it
        "title": "全省职工健步走",
        "signup_deadline": at + timedelta(days=1),
        "per_user_limit": SESSIONS,
        "sessions": [
            {"id": f"s{i}", "title": f"第{i}场", "capacity": 10_000, "starts_at": at + timedelta(days=2, hours=i),
             "ends_at": at + timedelta(days=2, hours=i, minutes=50)}
            for i in range(1, SESSIONS + 1)
        ],
        "form": [],
    }  # fmt: skip
    doc = await activity_admin.create_activity(deps, data, editor_org=None)
    return await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)


async def test_cancel_on_a_stops_signups_and_confirmations_on_b_and_c(
    deps: Deps, instances: list[Instance], fake_wechat: Any
) -> None:
    fake_wechat.state.auto_consent = True
    a, b, c = instances
    aid = (await make_activity(deps))["_id"]
    tokens = {b.name: await tokens_for(b, fake_wechat, "ob"), c.name: await tokens_for(c, fake_wechat, "oc")}
    for inst in (b, c):  # B's and C's caches now hold the activity as published
        status, detail = await inst.call("GET", f"/api/mp/activities/{aid}", token=tokens[inst.name][0])
        assert status == 200 and detail["phase"] == "open", detail
    log: list[Sent] = []
    path = f"/api/mp/activities/{aid}/signups"
    work = {
        name: [(t, path, {"session_id": f"s{s}", "form": {}}) for s in range(1, SESSIONS + 1) for t in toks]
        for name, toks in tokens.items()
    }
    streams = [asyncio.create_task(stream(inst, work[inst.name], log, gap=0.002)) for inst in (b, c)]
    await when_accepted(log, 60, 201)
    await activity_admin.cancel_activity(a.deps, aid, editor_org="370000")  # the console's call, on A
    cancelled_at = time.time()  # the editor has the answer from here on
    await asyncio.gather(*streams)

    after = [s for s in log if s.sent_at > cancelled_at]
    assert {s.instance for s in after} == {"B", "C"}, "sign-ups kept streaming at B and C after the cancel"
    assert all(s.status == 409 and s.code == "activity_cancelled" for s in after), [
        (s.status, s.code) for s in after if s.status != 409
    ][:5]
    accepted = [s for s in log if s.status == 201]
    assert accepted and all(s.sent_at < cancelled_at for s in accepted)

    await flush_all(deps)
    stored = await deps.db.signups.find({"activity_id": aid}).to_list(None)
    assert len(stored) == len(accepted)  # every sign-up answered 201 is stored, none other
    late = [d for d in stored if d["status"] == "confirmed" and d["created_at"].timestamp() >= cancelled_at]
    assert late == []

    await asyncio.sleep(1.5)  # confirmations still queued when the editor cancelled are dropped, not sent
    sends = [r for r in fake_wechat.state.calls() if "subscribe/send" in r.path and "报名成功" in str(r.body)]
    assert [r for r in sends if r.ts >= cancelled_at] == []

    for inst in (b, c):  # and the pages on B and C say so without waiting for a cache to expire
        status, detail = await inst.call("GET", f"/api/mp/activities/{aid}", token=tokens[inst.name][0])
        assert status == 200 and detail["phase"] == "cancelled", detail


async def test_close_on_a_stops_ballots_on_b_and_c(deps: Deps, instances: list[Instance], fake_wechat: Any) -> None:
    a, b, c = instances
    poll = await make_poll(
        deps, limit={"per": "poll", "count": 50}, anti_brush={"user_per_minute": 0, "ip_per_minute": 0}
    )
    pid = poll["_id"]
    tokens = {b.name: await tokens_for(b, fake_wechat, "pb"), c.name: await tokens_for(c, fake_wechat, "pc")}
    path = f"/api/mp/polls/{pid}/ballots"
    log: list[Sent] = []
    work = {name: [(t, path, {"options": ["o1"]}) for _ in range(20) for t in toks] for name, toks in tokens.items()}
    streams = [asyncio.create_task(stream(inst, work[inst.name], log, gap=0.002)) for inst in (b, c)]
    await when_accepted(log, 100, 201)
    await poll_admin.close(a.deps, "370000", pid)  # the console's call, on A
    closed_at = time.time()
    await asyncio.gather(*streams)

    after = [s for s in log if s.sent_at > closed_at]
    assert {s.instance for s in after} == {"B", "C"}
    assert all(s.status == 409 and s.code == "poll_closed" for s in after)
    accepted = [s for s in log if s.status == 201]
    await ballot_flusher.drain(deps)
    stored = await deps.db.ballots.find({"poll": pid}).to_list(None)
    assert len(stored) == len(accepted)
    assert [d for d in stored if d["at"].timestamp() >= closed_at] == []
    assert await ballots.pending_count(deps.redis) == 0


async def test_a_lost_invalidation_is_healed_by_the_version_poll(
    deps: Deps, instances: list[Instance], fake_wechat: Any
) -> None:
    _, b, _ = instances
    aid = (await make_activity(deps))["_id"]
    token = await b.login(fake_wechat, "o_lost")
    status, detail = await b.call("GET", f"/api/mp/activities/{aid}", token=token)
    assert status == 200 and detail["title"] == "全省职工健步走"
    # An edit whose message never reached anyone (a subscriber reconnecting, say): MongoDB and the
    # space's version move, nothing is published.
    await deps.db.activities.update_one({"_id": aid}, {"$set": {"title": "全省职工健步走（改期）"}})
    await deps.redis.hincrby(invalidation.VERSIONS, ACTIVITY_CACHE, 1)
    changed_at = time.monotonic()
    while True:
        status, detail = await b.call("GET", f"/api/mp/activities/{aid}", token=token)
        if detail["title"] == "全省职工健步走（改期）":
            break
        assert time.monotonic() - changed_at < POLL_SECONDS + 0.5, "not healed within the poll interval"
        await asyncio.sleep(0.02)
    assert time.monotonic() - changed_at <= POLL_SECONDS + 0.5
