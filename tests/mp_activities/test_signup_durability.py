"""Nothing is lost: the flusher's idempotent batches, restarts with writes pending, a killed Redis, a lost Redis."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from core.deps import Deps, build_deps, close_deps
from core.embedded import start_redis
from services.activities import flusher, reminders, signups
from services.activities import jobs as signup_workers
from services.activities import legacy_live as legacy
from services.activities import signups_store as repo
from services.activities.flusher import flush_all
from tests.conftest import REDIS_MODE
from tests.mp_activities.conftest import FORM, member
from tests.mp_activities.test_signups import published, sign


async def stored(deps: Deps, aid: str) -> dict[str, dict[str, Any]]:
    return {d["_id"]: d for d in await repo.for_activity(deps.db, aid)}


async def test_flush_writes_every_change_once_and_never_goes_back(deps: Deps) -> None:
    aid = await published(deps, capacity=2)
    made = [await sign(deps, aid, f"u{i}") for i in range(4)]
    assert await deps.db.signups.count_documents({}) == 0  # decided in Redis, not yet in MongoDB
    assert await flush_all(deps) == 4
    await signups.cancel(deps, member("u0"), aid, made[0]["id"])  # promotes u2
    stale = await signups.state(deps).get(made[2]["id"])
    assert stale is not None and stale["status"] == "confirmed"
    await flush_all(deps)
    docs = await stored(deps, aid)
    assert [docs[m["id"]]["status"] for m in made] == ["cancelled", "confirmed", "confirmed", "waitlisted"]
    assert docs[made[2]["id"]]["promoted_at"] is not None and docs[made[2]["id"]]["form"] == FORM
    old = dict(stale, v=1, status="waitlisted", fv=1)  # a replayed, older write (another flusher, late)
    await repo.write_states(deps.db, [old])
    assert (await stored(deps, aid))[made[2]["id"]]["status"] == "confirmed"
    assert await signups.state(deps).dirty_count() == 0


async def test_a_flush_that_crashed_before_its_ack_is_repeated_harmlessly(deps: Deps) -> None:
    aid = await published(deps, capacity=1)
    a = await sign(deps, aid, "u1")
    b = await sign(deps, aid, "u2")
    states = await signups.state(deps).get_many([a["id"], b["id"]])
    await repo.write_states(deps.db, list(states.values()))  # written, then "crashed": no ack
    await signups.cancel(deps, member("u1"), aid, a["id"])
    await flush_all(deps)  # inserts again (duplicates) -> falls back to the version-guarded update
    docs = await stored(deps, aid)
    assert (docs[a["id"]]["status"], docs[b["id"]]["status"]) == ("cancelled", "confirmed")


async def test_restart_with_writes_pending_loses_nothing(deps: Deps) -> None:
    aid = await published(deps, capacity=5)
    for i in range(12):
        await sign(deps, aid, f"u{i}")
    assert await deps.db.signups.count_documents({}) == 0
    # The process dies here (its flusher never ran); a new one starts on the same Redis and MongoDB.
    restarted = build_deps(deps.settings, redis_url=deps.settings.redis.url, mongo_url=deps.settings.mongo.url)
    try:
        await signup_workers.start(restarted)  # drains before serving
        assert await repo.count_by_status(restarted.db, aid) == {"confirmed": 5, "waitlisted": 7}
    finally:
        await close_deps(restarted)


async def test_killed_redis_keeps_every_answered_sign_up(deps: Deps, tmp_path: Path) -> None:
    """Redis writes its AOF before answering: kill -9 it after the answers, restart, and all is there."""
    own = await start_redis(tmp_path)
    d1 = build_deps(deps.settings, redis_url=own.url, mongo_url=deps.settings.mongo.url)
    try:
        aid = await published(d1, capacity=3)
        made = [await sign(d1, aid, f"u{i}") for i in range(6)]
    finally:
        await close_deps(d1)
    own.process.send_signal(signal.SIGKILL)
    own.process.wait()
    again = await start_redis(tmp_path)
    d2 = build_deps(deps.settings, redis_url=again.url, mongo_url=deps.settings.mongo.url)
    try:
        assert await signups.state(d2).dirty_count() == 6
        await flush_all(d2)
        docs = await stored(d2, aid)
        assert [docs[m["id"]]["status"] for m in made] == ["confirmed"] * 3 + ["waitlisted"] * 3
    finally:
        await close_deps(d2)
        again.stop()


async def test_lost_redis_state_is_rebuilt_from_mongodb(deps: Deps) -> None:
    aid = await published(deps, capacity=2)
    made = [await sign(deps, aid, f"u{i}") for i in range(5)]  # 2 confirmed, 3 waitlisted
    await flush_all(deps)
    await deps.redis.flushall()  # Redis lost everything (no AOF, new server...)
    deps.drop(flusher.STATE)
    again, created = await signups.sign_up(deps, member("u1"), aid, "s1", FORM)
    assert not created and again["id"] == made[1]["id"]  # still known: rebuilt from MongoDB
    late = await sign(deps, aid, "late")
    assert late["status"] == "waitlisted" and late["position"] == 4
    assert int(late["id"].rsplit("-", 1)[1]) == 6  # the sequence continues after the stored ones
    await signups.cancel(deps, member("u0"), aid, made[0]["id"])
    promoted = await signups.state(deps).get(made[2]["id"])
    assert promoted is not None and promoted["status"] == "confirmed"  # the waitlist order survived
    await flush_all(deps)
    assert await repo.count_by_status(deps.db, aid) == {"cancelled": 1, "confirmed": 2, "waitlisted": 3}


@pytest.mark.skipif(REDIS_MODE == "cluster", reason="an older release's keys only exist on a standalone Redis")
async def test_what_an_older_release_left_unflushed_is_stored_and_confirmed(deps: Deps, fake_wechat: Any) -> None:
    """An upgrade in place: the pre-partition sign-up hash, dirty set and confirmation stream are drained."""
    fake_wechat.state.auto_consent = True
    aid = await published(deps, capacity=10)
    at = int(time.time() * 1000)
    signup_id = f"{aid}-1"
    await deps.redis.hset(f"mp:act:{{{aid}}}:su:1", mapping={
        "id": signup_id, "aid": aid, "sid": "s1", "uid": "o_old", "status": "confirmed", "seq": 1, "v": 1,
        "created_at": at, "updated_at": at, "form": json.dumps(FORM), "remind_at": "", "member_id": "m-o_old",
        "org": "370102", "unionid": "",
    })  # fmt: skip
    await deps.redis.zadd(legacy.OLD_DIRTY, {signup_id: at})
    await deps.redis.xadd(legacy.OLD_NOTIFY, {"id": signup_id, "kind": "confirmed"})
    await reminders.ensure_group(deps)  # what start-up does: the old stream is read too
    assert await flush_all(deps) == 1
    assert await deps.redis.zcard(legacy.OLD_DIRTY) == 0
    doc = (await stored(deps, aid))[signup_id]
    assert doc["status"] == "confirmed" and doc["form"] == FORM and doc["openid"] == "o_old"
    assert await reminders.send_confirmations(deps, "upgraded") == 1
    assert "报名成功" in str(fake_wechat.state.last_payload("subscribe", "o_old"))
    assert await deps.redis.xlen(legacy.OLD_NOTIFY) == 0
    # and the activity goes on in the new layout, numbering after the old sign-up
    assert (await sign(deps, aid, "o_new"))["id"] == f"{aid}-2"
