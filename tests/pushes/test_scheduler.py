"""The scheduler: one leader at a time (Redis lock), failover when it dies or loses its lock, jobs in a
persistent store, and a per-occurrence key so no occurrence ever runs twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from core import clock
from core.deps import Deps
from scheduler import jobs
from scheduler.leader import LEADER_KEY, LeaderLock
from scheduler.runner import JOBS_KEY, LEGACY_KEYS, SchedulerRunner
from services.pushes import compose as pushes
from services.pushes import control as push_control
from services.pushes.fanout import Fanout
from storage.key_moves import move_keys
from tests.pushes.conftest import PROVINCE, TEMPLATE, ids, seed_followers, wait_for, wait_run

TTL = 0.6


class Runners:
    """Scheduler instances sharing the test's Redis and MongoDB, as separate service instances would."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.made: list[tuple[SchedulerRunner, asyncio.Task[None]]] = []

    def make(self) -> SchedulerRunner:
        runner = SchedulerRunner(self.deps, lock_ttl=TTL, misfire_grace=2.0, resync_seconds=1.0)
        self.made.append((runner, asyncio.ensure_future(runner.run())))
        return runner

    def kill(self, runner: SchedulerRunner) -> None:
        """Like kill -9: the loop stops without stepping down politely or releasing the lock."""
        task = next(t for r, t in self.made if r is runner)
        task.cancel()
        if runner.scheduler is not None:
            runner.scheduler.shutdown(wait=False)
            runner.scheduler = None

    async def close(self) -> None:
        for runner, task in self.made:
            await runner.stop()
            task.cancel()
        await asyncio.gather(*(t for _, t in self.made), return_exceptions=True)


@pytest.fixture
async def runners(deps: Deps) -> AsyncIterator[Runners]:
    pool = Runners(deps)
    yield pool
    await pool.close()


async def test_leader_lock_is_owned(deps: Deps) -> None:
    a, b = LeaderLock(deps.redis, ttl=5, owner="a"), LeaderLock(deps.redis, ttl=5, owner="b")
    assert await a.acquire() and a.held
    assert not await b.acquire()
    assert await a.renew()
    await deps.redis.delete(LEADER_KEY)  # a loses its lock (expired, or taken away)
    assert await b.acquire()
    assert not await a.renew() and not a.held  # a notices at its next renewal and steps down
    await a.release()  # releasing is compare-and-delete: b's lock stays
    assert await b.holder() == "b"


async def _scheduled(deps: Deps, seconds: float) -> str:
    at = clock.now() + timedelta(seconds=seconds)
    body = {**TEMPLATE, "schedule": {"kind": "at", "at": at.isoformat()}}
    push = await pushes.create(deps, body, editor_org=PROVINCE, editor="editor1")
    done = await pushes.submit(deps, push["id"], editor_org=PROVINCE, editor="editor1")
    assert done["status"] == "scheduled"
    return str(push["id"])


async def _leader(runner: SchedulerRunner) -> None:
    await wait_for(_true_when(lambda: runner.leading), 5, "a leader")


async def test_failover_when_the_leader_dies(deps: Deps, fake_wechat, fan: Fanout, runners: Runners) -> None:
    await seed_followers(deps, fake_wechat, ids("oSched", 12))
    a = runners.make()
    await _leader(a)
    b = runners.make()
    push_id = await _scheduled(deps, 2.0)
    await wait_for(lambda: _has_job(deps, push_id), 3, "the job in the persistent store")
    # a dies (kill -9): no renewal, no release; its lock expires and b takes over with a's jobs.
    runners.kill(a)
    assert await b.lock.holder() != b.lock.owner
    await wait_for(_true_when(lambda: b.leading), 3 * TTL + 2, "b to lead")
    await wait_run(deps, push_id)
    assert await deps.db.push_runs.count_documents({"push": push_id}) == 1
    assert fake_wechat.state.delivered_count("template") == 12
    assert fake_wechat.state.duplicate_deliveries("template") == []


async def test_lock_lost_hands_over_and_fires_once(deps: Deps, fake_wechat, fan: Fanout, runners: Runners) -> None:
    await seed_followers(deps, fake_wechat, ids("oLost", 5))
    a = runners.make()
    await _leader(a)
    b = runners.make()
    push_id = await _scheduled(deps, 1.5)
    await wait_for(lambda: _has_job(deps, push_id), 3, "the job in the persistent store")
    await deps.redis.set(LEADER_KEY, "someone-else", px=int(TTL * 1000))  # a's lock is lost
    await wait_for(_true_when(lambda: not a.leading), 2, "a to step down")
    await wait_run(deps, push_id)
    assert await deps.db.push_runs.count_documents({"push": push_id}) == 1
    assert a.elections + b.elections >= 2  # a re-elected leader (either of them) fired it
    assert fake_wechat.state.delivered_count("template") == 5


async def test_duplicate_fires_make_one_run(deps: Deps, fake_wechat) -> None:
    push_id = await _scheduled(deps, 3600)
    push = await deps.db.pushes.find_one({"_id": push_id})
    at = clock.localize(push["schedule"]["at"])
    results = await asyncio.gather(
        *(jobs.fire_push(push_id, push["version"], deps=deps, scheduled_at=at) for _ in range(3))
    )
    run_id = next(r for r in results if r)
    assert set(results) <= {run_id, None}  # a late duplicate either finds the run or the push already started
    assert await deps.db.push_runs.count_documents({"push": push_id}) == 1
    # Below the push-status guard, the occurrence key itself refuses a second run.
    again, created = await push_control.start_run(deps, push, at)
    assert (again, created) == (run_id, False)
    # A stale job (the push was edited since) does not fire.
    assert await jobs.fire_push(push_id, push["version"] - 1, deps=deps, scheduled_at=at + timedelta(hours=1)) is None


async def test_missed_occurrence_is_recorded(deps: Deps, runners: Runners) -> None:
    push_id = await _scheduled(deps, 3600)
    past = clock.now() - timedelta(seconds=30)  # the scheduler was down when it was due
    await deps.db.pushes.update_one({"_id": push_id}, {"$set": {"schedule.at": past}})
    runners.make()

    async def missed() -> bool:
        return await deps.db.push_runs.count_documents({"push": push_id, "status": "missed"}) == 1

    await wait_for(missed, 5, "the missed run")
    push = await deps.db.pushes.find_one({"_id": push_id})
    assert push["status"] == "failed" and "错过" in push["last_error"]


async def test_jobs_survive_a_restart(deps: Deps, runners: Runners) -> None:
    cron = {**TEMPLATE, "schedule": {"kind": "cron", "cron": "0 9 * * 1"}}
    push = await pushes.create(deps, cron, editor_org=PROVINCE, editor="editor1")
    await pushes.submit(deps, push["id"], editor_org=PROVINCE, editor="editor1")
    a = runners.make()
    await wait_for(lambda: _has_job(deps, push["id"]), 3, "the job")
    job = a.scheduler.get_job(f"push:{push['id']}")
    assert job.next_run_time.astimezone(clock.TZ).weekday() == 0 and job.next_run_time.hour == 9  # Monday 9:00
    await a.stop()
    assert await _has_job(deps, push["id"])  # still in Redis with no scheduler running
    await pushes.cancel(deps, push["id"], editor_org=PROVINCE, editor="editor1")
    runners.make()

    async def gone() -> bool:
        return not await _has_job(deps, push["id"])

    await wait_for(gone, 3, "the cancelled push's job to go")


async def test_a_job_store_of_the_previous_release_is_moved_once(deps: Deps, runners: Runners) -> None:
    """The job store's keys got a shared hash tag (Redis Cluster): the old names' jobs and next run
    times are moved, not lost, by the first leader after the upgrade."""
    cron = {**TEMPLATE, "schedule": {"kind": "cron", "cron": "0 9 * * 1"}}
    push = await pushes.create(deps, cron, editor_org=PROVINCE, editor="editor1")
    await pushes.submit(deps, push["id"], editor_org=PROVINCE, editor="editor1")
    a = runners.make()
    await wait_for(lambda: _has_job(deps, push["id"]), 3, "the job")
    before = a.scheduler.get_job(f"push:{push['id']}").next_run_time
    await a.stop()
    # As the previous release left it: the same store under the untagged names.
    assert await move_keys(deps.redis, [(new, old) for old, new in LEGACY_KEYS]) == 2
    assert not await _has_job(deps, push["id"])
    b = runners.make()
    await wait_for(lambda: _has_job(deps, push["id"]), 3, "the moved job")
    assert b.scheduler.get_job(f"push:{push['id']}").next_run_time == before
    assert [await deps.redis.exists(old) for old, _ in LEGACY_KEYS] == [0, 0]


async def _has_job(deps: Deps, push_id: str) -> bool:
    from core.db import connect_redis_sync

    return bool(connect_redis_sync(deps.redis_url).hexists(JOBS_KEY, f"push:{push_id}"))


def _true_when(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(predicate())

    return check
