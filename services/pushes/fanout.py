"""The fan-out engine: runs on every instance and shares the work through MongoDB and Redis.

Five kinds of loops per process:
- chunk workers (`Tuning.workers` of them): take the next ready chunk of a running run (a Redis
  queue), lease it in MongoDB (guarded), work it (services/pushes/chunk.py), repeat;
- snapshotters (`Tuning.snap_cutters`): plan a new run's audience in key ranges (one instance per
  run, under a lease), then cut any range nobody is cutting (services/pushes/snapshot.py): every
  instance cuts in parallel, and a dead instance's range is taken over when its lease lapses;
- a rescuer: every `orphan_scan_seconds` it looks for chunks whose holder stopped renewing and works
  them at once in rescue slots beside the workers (up to `workers` of them), so a takeover never
  waits for a busy worker; it also re-queues chunks a lost queue forgot;
- a supervisor: resumes quota-paused runs when the quota returns, re-mirrors run state to Redis,
  finishes runs whose last chunk completed, settles stopped runs (every `supervise_seconds`);
- a receipts reader: applies WeChat's delivery reports (services/pushes/receipts.py).

Nothing is held only in memory: kill -9 any instance at any moment and the others (or the same one
restarted) continue from MongoDB once the leases lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from core import clock
from core.deps import Deps, Slot
from services.followers import following
from services.pushes import control as push_control
from services.pushes import receipts as push_receipts
from services.pushes import runs_store as runs
from services.pushes import store as push_store
from services.pushes.chunk import ChunkJob
from services.pushes.live import PushState, Tuning, get_state, load_tuning
from storage import invalidation

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
        # host:pid names the process holding a lease (operations); the suffix tells two fan-outs apart
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.state = get_state(deps)
        self._stopping = False
        self._pools: dict[str, TokenPool] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._active: list[dict[str, Any]] = []
        self._active_at = 0.0
        # set (and replaced) when a run starts or is planned anywhere: idle loops look again at once
        self._wake = asyncio.Event()
        self._pushes: dict[str, tuple[float, dict[str, Any]]] = {}
        self.chunks_done = 0

    # --- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        invalidation.hub(self.deps).register(push_control.RUNS_SPACE, self)
        spawn = self.deps.spawn
        self._tasks = [spawn(self._worker(n), f"push-worker-{n}") for n in range(self.tuning.workers)]
        self._tasks += [spawn(self._snapshotter(), f"push-snapshotter-{n}") for n in range(self.tuning.snap_cutters)]
        self._tasks.append(spawn(self._rescuer(), "push-rescuer"))
        self._tasks.append(spawn(self._supervisor(), "push-supervisor"))
        self._tasks.append(spawn(self._receipts(), "push-receipts"))

    async def stop(self, grace: float = 10.0) -> None:
        """Finish in-flight sends, record them, give chunks back (clean), then stop."""
        self._stopping = True
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # storage.invalidation.Listener: a run started or was planned somewhere: look again at once.
    def forget(self, item_id: str) -> None:
        self.forget_all()

    def forget_all(self) -> None:
        self._active_at = 0.0
        self._wake.set()
        self._wake = asyncio.Event()

    async def _idle(self, wake: asyncio.Event) -> None:
        """Wait `idle_poll`, or less when a run starts or is planned on any instance. `wake` is the
        event taken before looking for work, so news that came while looking is not missed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), self.tuning.idle_poll)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def lease_until(self) -> datetime:
        return clock.now() + timedelta(seconds=self.tuning.lease_seconds)

    def tokens(self, channel: str) -> TokenPool:
        pool = self._pools.get(channel)
        if pool is None:
            pool = self._pools[channel] = TokenPool(self.state, channel, lambda: self.tuning.rate(channel))
        return pool

    async def recent_interactions(self, openids: list[str]) -> dict[str, float]:
        """Last interactions the message path has seen but not yet written to MongoDB."""
        return await following.recent_interactions(self.deps.redis, openids)

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
            wake = self._wake
            try:
                claimed = await self._claim()
            except Exception:  # noqa: BLE001 - MongoDB or Redis hiccup: wait and try again
                log.exception("push worker %s: claim failed", n)
                await asyncio.sleep(self.tuning.idle_poll)
                continue
            if claimed is None:
                await self._idle(wake)
                continue
            await self._work(*claimed)

    async def _work(self, run: dict[str, Any], chunk: dict[str, Any], push: dict[str, Any]) -> None:
        job = ChunkJob(self, run, chunk, push)
        try:
            result = await job.work()
            self.chunks_done += result == "done"
        except Exception:  # noqa: BLE001 - the lease lapses and the chunk is retried (in-doubt rules apply)
            log.exception("push run %s chunk %s failed", run["_id"], chunk["seq"])
            await asyncio.sleep(self.tuning.idle_poll)

    async def _active_runs(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._active_at > self.tuning.active_poll_seconds:
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
        for run, push in await self._sendable():
            chunk = await self._claim_in(run)
            if chunk is not None:
                return run, chunk, push
        return None

    async def _sendable(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Running runs whose channel has quota left, oldest first, with their push."""
        out = []
        for run in sorted(await self._active_runs(), key=lambda r: r["created_at"]):
            if await self.state.quota_until(run["channel"]) > self.clock().timestamp():
                await push_control.quota_pause(self.deps, run["channel"], self.clock())
                self._active_at = 0.0
                continue
            push = await self._push(run["push"])
            if push is not None:
                out.append((run, push))
        return out

    async def _claim_in(self, run: dict[str, Any]) -> dict[str, Any] | None:
        db, run_id = self.deps.db, run["_id"]
        while (seq := await self.state.next_chunk(run_id)) >= 0:
            chunk = await runs.claim_chunk(db, runs.chunk_id(run_id, seq), self.owner, clock.now(), self.lease_until())
            if chunk is not None:
                return chunk
        return None

    # --- takeovers ----------------------------------------------------------------------------------
    async def _rescuer(self) -> None:
        rescues: set[asyncio.Task[None]] = set()
        while not self.stopping:
            try:
                for claimed in await self.rescue_once(self.tuning.workers - len(rescues)):
                    task = asyncio.create_task(self._work(*claimed))
                    rescues.add(task)
                    task.add_done_callback(rescues.discard)
            except Exception:  # noqa: BLE001 - next scan
                log.exception("push rescuer: scan failed")
            await asyncio.sleep(self.tuning.orphan_scan_seconds)
        if rescues:  # a graceful stop lets them finish their step and give the chunks back
            await asyncio.gather(*rescues, return_exceptions=True)

    async def rescue_once(self, slots: int = 1) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
        """One scan: claim up to `slots` chunks whose holder stopped renewing (returned, to be worked
        at once, beside the regular workers: the shared token bucket still bounds the send rate),
        queue the rest at the head; re-queue pending chunks a lost queue forgot; finish runs whose
        chunks are all done."""
        db, now = self.deps.db, clock.now()
        taken: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for run, push in await self._sendable():
            run_id = run["_id"]
            lapsed = [d for d in await runs.open_chunks(db, run_id, "leased") if clock.localize(d["lease_until"]) < now]
            left = []
            for doc in lapsed:
                chunk = None
                if len(taken) < slots:
                    chunk = await runs.claim_chunk(db, doc["_id"], self.owner, now, self.lease_until())
                if chunk is not None:
                    log.warning("push run %s: chunk %s taken over from %s", run_id, doc["seq"], doc.get("owner"))
                    taken.append((run, chunk, push))
                else:
                    left.append(int(doc["seq"]))
            if left:
                await self.state.requeue(run_id, left)
            if await self.state.queued(run_id) == 0:
                # Nothing queued: chunks given back while Redis lost the queue, or written by a cutter
                # that died before queueing them, wait here (few: the queue is normally their home).
                pending = await runs.open_chunks(db, run_id, "pending")
                if pending:
                    await self.state.requeue(run_id, [int(d["seq"]) for d in pending])
                elif not lapsed and run["snap"].get("done"):
                    await push_control.maybe_finish(self.deps, run_id)
        return taken

    # --- snapshot -----------------------------------------------------------------------------------
    async def _snapshotter(self) -> None:
        while not self.stopping:
            wake = self._wake
            try:
                took = await self.snapshot_once()
            except Exception:  # noqa: BLE001 - the lease lapses and someone resumes it
                log.exception("push snapshot failed")
                await asyncio.sleep(self.tuning.idle_poll)
                continue
            if not took:
                await self._idle(wake)

    async def snapshot_once(self) -> bool:
        """Plan one new run, or cut one range nobody is cutting; False when there was nothing to do."""
        from services.pushes import snapshot

        db = self.deps.db
        for run in await self._active_runs():
            snap = run["snap"]
            if snap.get("done"):
                continue
            if snap.get("planned") is None:
                claimed = await runs.claim_snapshot(db, run["_id"], self.owner, clock.now(), self.lease_until())
                if claimed is None:
                    continue
                await self._leased(snapshot.plan(self, claimed), runs.renew_snapshot, run["_id"])
                self._active_at = 0.0
                return True
            rng = await runs.claim_range(db, run["_id"], self.owner, clock.now(), self.lease_until())
            if rng is not None:
                await self._leased(snapshot.cut_range(self, run, rng), runs.renew_range, rng["_id"])
                return True
        return False

    async def _leased(self, work: Awaitable[Any], renew: Callable[..., Awaitable[bool]], key: str) -> None:
        """Run `work` while renewing its lease every third of the lease time."""

        async def renewer() -> None:
            while True:
                await asyncio.sleep(self.tuning.lease_seconds / 3)
                try:
                    if not await renew(self.deps.db, key, self.owner, self.lease_until()):
                        return
                except Exception:  # noqa: BLE001
                    log.exception("push lease %s: renewal failed", key)

        task = asyncio.create_task(renewer())
        try:
            await work
        finally:
            task.cancel()

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
                done = bool(run["snap"].get("done"))
                if fields.get("status") != run["status"] or (done and fields.get("chunks") != str(run["snap"]["seq"])):
                    if not fields:  # a run started before the Cluster key layout: its old mirror goes
                        await self.state.forget_legacy(run["_id"])
                    await push_control.mirror_run(deps, run)
                if status == "running" and done and await self.state.queued(run["_id"]) == 0:
                    await push_control.maybe_finish(deps, run["_id"])
        await push_control.settle_stopped(deps)

    async def _receipts(self) -> None:
        while not self.stopping:
            try:
                await push_receipts.flush(self.deps, consumer=self.owner)
            except Exception:  # noqa: BLE001 - next tick (entries stay pending, nothing is lost)
                log.exception("push receipts: flush failed")
            await asyncio.sleep(self.tuning.receipts_seconds)


FANOUT = Slot["Fanout"]("pushes.fanout")


def get_fanout(deps: Deps) -> Fanout | None:
    return deps.get(FANOUT)
