"""APScheduler on the leader only, with jobs in a persistent Redis store, kept in step with push data.

Pushes are the data; an APScheduler job only triggers one (`scheduler.jobs:fire_push`). The leader
(scheduler/leader.py) runs a BackgroundScheduler — its own thread, because APScheduler's job
stores are synchronous and a stalled Redis must never freeze the event loop that answers
/wechat — whose executor hands each fire back to the event loop. The job store is Redis (`sched:{sched:store}:jobs`,
`sched:{sched:store}:run_times`: APScheduler writes both in one MULTI, so they share a hash tag for
Redis Cluster; the previous release's `sched:jobs` / `sched:run_times` are moved there once, by the
first leader), so next run times survive restarts and failovers, and an occurrence missed
while no leader ran fires late (within `misfire_grace`) or is recorded as missed. The leader keeps
the store in step with the armed pushes: at election, when `sched:version` changes (an editor
scheduled, edited, paused or cancelled a push) and every `resync_seconds` anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from core import clock
from core.db import connect_redis_sync
from core.deps import Deps
from scheduler import jobs
from scheduler.leader import LeaderLock
from services.pushes import compose
from services.pushes import rules as push_rules
from services.pushes import store as push_store
from storage.key_moves import move_keys
from storage.keys import entity_tag

log = logging.getLogger(__name__)
JOB_PREFIX = "push:"
_STORE_TAG = entity_tag("sched", "store")
JOBS_KEY = f"sched:{_STORE_TAG}:jobs"
RUN_TIMES_KEY = f"sched:{_STORE_TAG}:run_times"
LEGACY_KEYS = [("sched:jobs", JOBS_KEY), ("sched:run_times", RUN_TIMES_KEY)]
Fire = Callable[[Any, datetime], Awaitable[Any]]


class PushExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs `fire_push` jobs on the event loop with `deps` and the occurrence's scheduled time.

    APScheduler's own executors call `func(*args)`; ours also passes what the job store cannot
    hold (the live `deps`) and what APScheduler knows but does not pass (the scheduled run time,
    our idempotency key).
    """

    def __init__(self, deps: Deps, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.deps = deps
        self._loop = loop
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def shutdown(self, wait: bool = True) -> None:
        for future in list(self._pending):
            future.cancel()
        self._pending.clear()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        # Called on the scheduler's thread: the fire itself runs on the event loop.
        future = asyncio.run_coroutine_threadsafe(self._run(job, run_times), self._loop)
        self._pending.add(future)

        def done(f: concurrent.futures.Future[Any]) -> None:
            self._pending.discard(f)
            if f.cancelled():
                return
            if (exc := f.exception()) is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        future.add_done_callback(done)

    async def _run(self, job: Any, run_times: list[datetime]) -> list[JobExecutionEvent]:
        events = []
        for run_time in run_times:
            late = clock.now() - run_time
            if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                push_id, version = job.args
                await jobs.missed(self.deps, push_id, version, run_time)
                continue
            try:
                result = await job.func(*job.args, deps=self.deps, scheduled_at=run_time, **job.kwargs)
            except Exception as exc:  # noqa: BLE001 - reported as APScheduler's job-error event
                log.exception("scheduled job %s failed", job.id)
                events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, job._jobstore_alias, run_time,
                                                exception=exc, traceback=str(sys.exc_info()[2])))  # fmt: skip
            else:
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time, result))
        return events


class SchedulerRunner:
    def __init__(
        self, deps: Deps, *, lock_ttl: float = 10.0, misfire_grace: float = 3600.0, resync_seconds: float = 30.0
    ) -> None:
        self.deps = deps
        self.lock = LeaderLock(deps.redis, ttl=lock_ttl)
        self.misfire_grace = misfire_grace
        self.resync_seconds = resync_seconds
        self.scheduler: BackgroundScheduler | None = None
        self.stopping = False
        self.elections = 0
        self._synced_version: str | None = None
        self._synced_at = 0.0

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    async def run(self) -> None:
        """Campaign, lead, renew; step down as soon as leadership is not confirmed."""
        interval = self.lock.ttl_ms / 3000
        while not self.stopping:
            try:
                if self.leading:
                    if await self.lock.renew():
                        await self._maybe_resync()
                    else:
                        await self._step_down("lock lost")
                elif await self.lock.acquire() or await self.lock.renew():  # renew: ours already (loop restart)
                    await self._lead()
            except Exception:  # noqa: BLE001 - Redis unreachable: keep trying; step down once the lease ran out
                log.exception("scheduler leadership tick failed")
                if self.leading and not self.lock.held:
                    await self._step_down("lease expired without renewal")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        self.stopping = True
        if self.leading:
            await self._step_down("shutting down")
            await self.lock.release()

    async def _lead(self) -> None:
        self.elections += 1
        if await move_keys(self.deps.redis, LEGACY_KEYS):
            log.info("scheduler: job store moved to its Redis Cluster key names")
        store = RedisJobStore(jobs_key=JOBS_KEY, run_times_key=RUN_TIMES_KEY)
        store.redis = connect_redis_sync(self.deps.redis_url)  # same topology, credentials and TLS
        executor = PushExecutor(self.deps, asyncio.get_running_loop())
        scheduler = BackgroundScheduler(
            jobstores={"default": store}, executors={"default": executor}, timezone=clock.TZ, daemon=True,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(self.misfire_grace)},
        )  # fmt: skip
        await asyncio.to_thread(scheduler.start)
        self.scheduler = scheduler
        log.info("scheduler: %s is the leader", self.lock.owner)
        self._synced_version = None
        await self.resync()

    async def _step_down(self, why: str) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            # shutdown() joins the scheduler thread, which may be waiting on a stalled Redis.
            await asyncio.to_thread(scheduler.shutdown, wait=False)
            log.warning("scheduler: %s stepped down (%s)", self.lock.owner, why)

    async def _maybe_resync(self) -> None:
        version = await compose.schedule_version(self.deps)
        if version != self._synced_version or time.monotonic() - self._synced_at > self.resync_seconds:
            await self.resync(version)

    async def resync(self, version: Any = None) -> None:
        """Make the job store hold exactly one current job per armed push."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        if version is None:
            version = await compose.schedule_version(self.deps)
        wanted = {JOB_PREFIX + p["_id"]: p for p in await push_store.armed(self.deps.db)}
        # Job-store calls block on Redis: keep them off the event loop.
        jobs_now = await asyncio.to_thread(scheduler.get_jobs)
        held = {job.id: job for job in jobs_now if job.id.startswith(JOB_PREFIX)}
        for job_id, job in list(held.items()):
            push = wanted.get(job_id)
            if push is None or job.args[1] != push["version"]:
                await asyncio.to_thread(scheduler.remove_job, job_id)
                del held[job_id]
        for job_id, push in wanted.items():
            current = held.get(job_id)
            if current is not None and current.args[1] == push["version"]:
                continue
            schedule = push["schedule"]
            if schedule["kind"] == "cron":
                trigger: Any = push_rules.cron_trigger(schedule["cron"])
            elif schedule["kind"] == "at":
                trigger = DateTrigger(run_date=clock.localize(schedule["at"]), timezone=clock.TZ)
            else:
                continue
            await asyncio.to_thread(
                scheduler.add_job, "scheduler.jobs:fire_push", trigger, args=[push["_id"], push["version"]],
                id=job_id, name=f"push {push['_id']}", replace_existing=True,
            )  # fmt: skip
        self._synced_version = version
        self._synced_at = time.monotonic()
