"""The fan-out engine: runs on every instance and shares the work through MongoDB and Redis.

Three kinds of loops per process:
- chunk workers (`Tuning.workers` of them): claim a chunk of a running run (next sequence number
  from a Redis cursor, then a guarded lease in MongoDB), work it (services/pushes/chunk.py), repeat;
- a snapshotter: cuts a new run's audience into chunks (one instance per run, under a lease);
- a supervisor: resumes quota-paused runs when the quota returns, re-mirrors run state to Redis,
  finishes runs whose last chunk completed, settles stopped runs.

Nothing is held only in memory: kill -9 any instance at any moment and the others (or the same one
restarted) continue from MongoDB once the leases lapse.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core import clock
from core.deps import Deps
from services.pushes import control as push_control
from services.pushes import receipts as push_receipts
from services.pushes import runs_store as runs
from services.pushes import store as push_store
from services.pushes.chunk import ChunkJob
from services.pushes.live import PushState, Tuning, get_state, load_tuning

log = logging.getLogger(__name__)
TUNING_RELOAD_SECONDS = 10.0


class TokenPool:
    """This process's share of a channel's Redis token bucket, fetched in small blocks."""

    def __init__(self, state: PushState, channel: str, rate: Callable[[], float]) -> None:
        self.state, self.channel, self.rate = state, channel, rate
        self.local = 0
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        while True:
            if self.local > 0:
                self.local -= 1
                return
            async with self.lock:
                if self.local > 0:
                    continue
                rate = self.rate()
                want = max(1, min(64, int(rate / 20)))
                granted, wait = await self.state.take_tokens(self.channel, rate, want)
                if granted:
                    self.local += granted
                    continue
                await asyncio.sleep(max(0.001, wait))


class Fanout:
    def __init__(
        self, deps: Deps, base: Tuning | None = None, *, tuning: Tuning | None = None,
        business_clock: Callable[[], datetime] = clock.now,
    ) -> None:  # fmt: skip
        """`base`: the defaults `push:settings` overrides (re-read every few seconds); `tuning`: the
        current values if already loaded."""
        self.deps = deps
        self._base = base or Tuning()
        self.tuning = tuning or self._base
        self._tuned_at = time.monotonic()
        self.clock = business_clock  # quota days, the 48-hour window, record times (tests move it)
        self.owner = f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.state = get_state(deps.extras, deps.redis)
        self.stopping = False
        self._pools: dict[str, TokenPool] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._active: list[dict[str, Any]] = []
        self._active_at = 0.0
        self._orphan_scan: dict[str, float] = {}
        self._pushes: dict[str, tuple[float, dict[str, Any]]] = {}
        self.chunks_done = 0

    # --- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        spawn = self.deps.spawn
        self._tasks = [spawn(self._worker(n), f"push-worker-{n}") for n in range(self.tuning.workers)]
        self._tasks.append(spawn(self._snapshotter(), "push-snapshotter"))
        self._tasks.append(spawn(self._supervisor(), "push-supervisor"))

    async def stop(self, grace: float = 10.0) -> None:
        """Finish in-flight sends, record them, give chunks back (clean), then stop."""
        self.stopping = True
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def lease_until(self) -> datetime:
        return clock.now() + timedelta(seconds=self.tuning.lease_seconds)

    def tokens(self, channel: str) -> TokenPool:
        pool = self._pools.get(channel)
        if pool is None:
            pool = self._pools[channel] = TokenPool(self.state, channel, lambda: self.tuning.rate(channel))
        return pool

    async def recent_interactions(self, openids: list[str]) -> dict[str, float]:
        """Last interactions the message path has seen but not yet written to MongoDB."""
        from services.followers.following import SEEN_KEY

        values = await self.deps.redis.hmget(SEEN_KEY, openids)
        return {o: float(v) for o, v in zip(openids, values, strict=True) if v}

    def followers_left(self, openids: list[str]) -> None:
        """WeChat says 43004 (not subscribed): forget them the way an unfollow event does, in the
        background so a push to a stale audience is not slowed down by the clean-up."""
        self.deps.spawn(self._forget(openids), "push-followers-left")

    async def _forget(self, openids: list[str]) -> None:
        from services.followers.following import leave

        for openid in openids:
            try:
                await leave(self.deps.db, self.deps.redis, openid)
            except Exception:  # noqa: BLE001 - the delivery is recorded; the next push cleans up again
                log.exception("marking %s unsubscribed failed", openid)

    # --- chunk workers ------------------------------------------------------------------------------
    async def _worker(self, n: int) -> None:
        while not self.stopping:
            try:
                claimed = await self._claim()
            except Exception:  # noqa: BLE001 - MongoDB or Redis hiccup: wait and try again
                log.exception("push worker %s: claim failed", n)
                claimed = None
            if claimed is None:
                await asyncio.sleep(self.tuning.idle_poll)
                continue
            run, chunk, push = claimed
            job = ChunkJob(self, run, chunk, push)
            try:
                result = await job.work()
                self.chunks_done += result == "done"
            except Exception:  # noqa: BLE001 - the lease lapses and the chunk is retried (in-doubt rules apply)
                log.exception("push run %s chunk %s failed", run["_id"], chunk["seq"])
                await asyncio.sleep(self.tuning.idle_poll)

    async def _active_runs(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._active_at > self.tuning.idle_poll / 2:
            self._active = await runs.runs_with_status(self.deps.db, "running")
            self._active_at = time.monotonic()
        return self._active

    async def _push(self, push_id: str) -> dict[str, Any] | None:
        cached = self._pushes.get(push_id)
        if cached and time.monotonic() - cached[0] < 30:
            return cached[1]
        push = await push_store.get(self.deps.db, push_id)
        if push is not None:
            self._pushes[push_id] = (time.monotonic(), push)
        return push

    async def _claim(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        active = await self._active_runs()
        for run in sorted(active, key=lambda r: r["created_at"]):
            if await self.state.quota_until(run["channel"]) > self.clock().timestamp():
                await push_control.quota_pause(self.deps, run["channel"], self.clock())
                self._active_at = 0.0
                continue
            push = await self._push(run["push"])
            if push is None:
                continue
            chunk = await self._claim_in(run)
            if chunk is not None:
                return run, chunk, push
        return None

    async def _claim_in(self, run: dict[str, Any]) -> dict[str, Any] | None:
        db, run_id = self.deps.db, run["_id"]
        while (seq := await self.state.next_chunk(run_id)) >= 0:
            chunk = await runs.claim_chunk(db, runs.chunk_id(run_id, seq), self.owner, clock.now(), self.lease_until())
            if chunk is not None:
                return chunk
        # Chunks given back (pause, quota, shutdown) or left by a crashed holder sit behind the cursor.
        if time.monotonic() - self._orphan_scan.get(run_id, 0.0) < self.tuning.orphan_scan_seconds:
            return None
        self._orphan_scan[run_id] = time.monotonic()
        now = clock.now()
        for state in ("pending", "leased"):
            for doc in await runs.open_chunks(db, run_id, state):
                if clock.localize(doc["lease_until"]) >= now:
                    continue
                chunk = await runs.claim_chunk(db, doc["_id"], self.owner, now, self.lease_until())
                if chunk is not None:
                    return chunk
        if not run["snap"].get("done"):
            return None
        fields = await self.state.run_fields(run_id)
        if int(fields.get("cursor") or 0) >= int(fields.get("chunks") or 0):
            await push_control.maybe_finish(self.deps, run_id)
        return None

    # --- snapshot -----------------------------------------------------------------------------------
    async def _snapshotter(self) -> None:
        while not self.stopping:
            took = False
            try:
                for run in await self._active_runs():
                    if run["snap"].get("done"):
                        continue
                    claimed = await runs.claim_snapshot(self.deps.db, run["_id"], self.owner, clock.now(),
                                                        self.lease_until())  # fmt: skip
                    if claimed is not None:
                        took = True
                        await self._snapshot(claimed)
            except Exception:  # noqa: BLE001 - the snapshot lease lapses and someone resumes it
                log.exception("push snapshot failed")
            if not took:
                await asyncio.sleep(self.tuning.idle_poll)

    async def _snapshot(self, run: dict[str, Any]) -> None:
        from services.pushes.snapshot import cut

        renewer = asyncio.create_task(self._renew_snapshot(run["_id"]))
        try:
            await cut(self, run)
        finally:
            renewer.cancel()

    async def _renew_snapshot(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(self.tuning.lease_seconds / 3)
            try:
                if not await runs.renew_snapshot(self.deps.db, run_id, self.owner, self.lease_until()):
                    return
            except Exception:  # noqa: BLE001
                log.exception("push run %s: snapshot lease renewal failed", run_id)

    # --- supervisor ---------------------------------------------------------------------------------
    async def _supervisor(self) -> None:
        while not self.stopping:
            try:
                await self.supervise_once()
            except Exception:  # noqa: BLE001 - next tick
                log.exception("push supervisor tick failed")
            await asyncio.sleep(self.tuning.supervise_seconds)

    async def supervise_once(self) -> None:
        deps = self.deps
        if time.monotonic() - self._tuned_at > TUNING_RELOAD_SECONDS:  # rates can be changed live
            self.tuning = await load_tuning(deps.redis, self._base)
            self._tuned_at = time.monotonic()
        if await push_control.resume_due(deps, self.clock()):
            self._active_at = 0.0
        await push_control.repair_started(deps, clock.now())
        for status in ("running", "paused", "quota_paused"):
            for run in await runs.runs_with_status(deps.db, status):
                fields = await self.state.run_fields(run["_id"])
                if fields.get("status") != run["status"] or fields.get("chunks") != str(run["snap"].get("seq", 0)):
                    await push_control.mirror_run(deps, run)
                if (
                    status == "running"
                    and run["snap"].get("done")
                    and int(fields.get("cursor") or 0) >= int(run["snap"].get("seq", 0))
                ):
                    await push_control.maybe_finish(deps, run["_id"])
        await push_control.settle_stopped(deps)
        await push_receipts.flush(deps)


def get_fanout(deps: Deps) -> Fanout | None:
    fan = deps.extras.get("pushes.fanout")
    return fan if isinstance(fan, Fanout) else None
