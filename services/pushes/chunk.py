"""Working one leased chunk: decide who still needs the message, send within the rate, record outcomes.

Crash safety, per chunk:
- before attempting recipient i >= wm the watermark moves past i (one write per `wm_step`), so after
  a crash only recipients below `wm` without a record can be "in doubt";
- in doubt + template: resent with the same `client_msg_id` while WeChat's 10-minute dedupe window
  surely covers the first attempt (`resend_window`, 8 minutes), so nobody gets it twice; later they
  are recorded "unknown" rather than risk a second message;
- in doubt + mass: the batch is resent with the same `clientmsgid`; 45065 means it went out;
- in doubt + customer-service / subscribe (no idempotency key): recorded "unknown", never resent —
  at most once, on purpose: a duplicate notice to a worker is worse than a missing one we can show;
- records are written in batches with deterministic `_id`s; a duplicate means already recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import Any

from core import clock
from services.pushes import control as push_control
from services.pushes import deliveries_store as deliveries
from services.pushes import receipts as push_receipts
from services.pushes import runs_store as runs
from services.pushes.context import FanoutContext
from services.pushes.live import COUNTS
from services.pushes.send import FAILED, FATAL, QUOTA, RETRY, SENT, SKIPPED, THROTTLED, UNKNOWN, Outcome, Sender

log = logging.getLogger(__name__)

IN_DOUBT = "发送过程中服务中断，无法确认是否送达；为避免重复发送，未再重发"
OUT_OF_WINDOW = "超出客服消息 48 小时互动时限"
MASS_FULL = "本月群发次数已达上限（每人每月 4 次）"
MASS_SINGLE = "群发每批至少需要 2 位接收者，本批仅剩 1 位"
CS_WINDOW = 48 * 3600


class ChunkJob:
    def __init__(self, fan: FanoutContext, run: dict[str, Any], chunk: dict[str, Any], push: dict[str, Any]) -> None:
        self.fan, self.deps, self.db, self.tuning = fan, fan.deps, fan.deps.db, fan.tuning
        self.run, self.chunk = run, chunk
        self.run_id, self.seq, self.cid = run["_id"], int(chunk["seq"]), chunk["_id"]
        self.channel = run["channel"]
        self.openids: list[str] = chunk["openids"]
        self.wm = int(chunk.get("wm", 0))
        self.sender = Sender(self.deps, self.channel, push["message"], self.run_id)
        self.counts: Counter[str] = Counter()
        self.buffer: list[dict[str, Any]] = []
        self.gone: list[str] = []
        self.stop: str | None = None
        self.fatal: Outcome | None = None
        self.left = 0
        self._last_flush = time.monotonic()
        self._flush_lock = asyncio.Lock()
        self._wm_lock = asyncio.Lock()

    async def work(self) -> str:
        watcher = asyncio.create_task(self._watch())
        try:
            todo = await self._prepare()
            if self.channel == "mass":
                self.left = await self._send_mass(todo)
            else:
                self.left = await self._send_all(todo)
            await self._flush()
        finally:
            watcher.cancel()
        return await self._finish()

    # --- who still needs it -----------------------------------------------------------------------
    async def _prepare(self) -> list[int]:
        chunk = self.chunk
        existing: dict[str, str] = {}
        if int(chunk.get("attempts", 1)) > 1 or self.wm > 0:
            ids = [deliveries.record_id(self.run_id, o) for o in self.openids]
            found = await deliveries.find(self.db, ids, {"status": 1})
            existing = {k: str(v.get("status")) for k, v in found.items()}
            self.counts.update(existing.values())
        attempt_at = chunk.get("attempt_at")
        age = (clock.now() - clock.localize(attempt_at)).total_seconds() if attempt_at else 0.0
        resend = self.channel == "mass" or (self.sender.idempotent and age < self.tuning.resend_window)
        skips: dict[str, str] = chunk.get("skips") or {}
        in_doubt = not chunk.get("clean", True)
        todo: list[int] = []
        for i, openid in enumerate(self.openids):
            if deliveries.record_id(self.run_id, openid) in existing:
                continue
            if openid in skips:
                self._record(openid, Outcome(SKIPPED, reason=skips[openid]))
            elif in_doubt and i < self.wm and not resend:
                self._record(openid, Outcome(UNKNOWN, reason=IN_DOUBT))
            else:
                todo.append(i)
        if self.channel == "custom" and todo:
            todo = await self._in_window(todo)
        return todo

    async def _in_window(self, todo: list[int]) -> list[int]:
        """Customer-service messages only reach followers who interacted in the last 48 hours."""
        lia: list[int] = self.chunk.get("lia") or []
        openids = [self.openids[i] for i in todo]
        fresh = await self.fan.recent_interactions(openids)  # not yet flushed to MongoDB
        limit = self.fan.clock().timestamp() - CS_WINDOW
        keep = []
        for i, openid in zip(todo, openids, strict=True):
            last = max(lia[i] if i < len(lia) else 0, fresh.get(openid, 0))
            if last < limit:
                self._record(openid, Outcome(SKIPPED, reason=OUT_OF_WINDOW))
            else:
                keep.append(i)
        return keep

    # --- sending ----------------------------------------------------------------------------------
    async def _send_all(self, todo: list[int]) -> int:
        pending: deque[int] = deque(todo)
        rounds = 0
        while pending and not self.stop:
            retry: list[tuple[int, Outcome]] = []
            lanes = min(self.tuning.window, len(pending))
            await asyncio.gather(*(self._lane(pending, retry) for _ in range(lanes)))
            if not retry:
                break
            if self.stop or rounds >= self.tuning.retry_rounds:
                if not self.stop:  # out of retries: a transient error became this recipient's answer ...
                    for i, out in retry:
                        if not out.token_trouble:
                            self._record(self.openids[i], Outcome(FAILED, errcode=out.errcode, reason=out.reason))
                    # ... but a dead access_token is ours, not theirs: they stay pending, the chunk is
                    # given back (clean: WeChat refused those calls) and tried again.
                    retry = [(i, out) for i, out in retry if out.token_trouble]
                pending.extend(i for i, _ in retry)
                break
            rounds += 1
            await asyncio.sleep(self.tuning.retry_delay)
            pending.extend(i for i, _ in retry)
        return len(pending)

    async def _lane(self, pending: deque[int], retry: list[tuple[int, Outcome]]) -> None:
        tokens = self.fan.tokens(self.channel)
        while pending and not self.stop:
            i = pending.popleft()
            if i >= self.wm and not await self._advance(i):
                pending.appendleft(i)
                return
            await tokens.take()
            if self.stop:
                pending.appendleft(i)
                return
            openid = self.openids[i]
            out = await self.sender.send(openid)
            if out.status in (SENT, FAILED, SKIPPED, UNKNOWN):
                self._record(openid, out)
                await self._maybe_flush()
            elif out.status == RETRY:
                retry.append((i, out))
            elif out.status == THROTTLED:
                pending.appendleft(i)
                await asyncio.sleep(1.0)
            else:
                pending.appendleft(i)
                first = self.stop is None
                self.stop = self.stop or (FATAL if out.status == FATAL else QUOTA)
                if out.status == FATAL and first:
                    self.fatal = out
                    await self._fail_run()  # now, so other chunks' watchers stop their sends too

    async def _send_mass(self, todo: list[int]) -> int:
        openids = [self.openids[i] for i in todo]
        month = self.fan.clock().strftime("%Y%m")
        full = await deliveries.claim_mass_slots(self.db, month, self.run_id, openids)
        for openid in full:
            self._record(openid, Outcome(SKIPPED, reason=MASS_FULL))
        live = [o for o in openids if o not in full]
        if len(live) == 1:
            self._record(live[0], Outcome(SKIPPED, reason=MASS_SINGLE))
            live = []
        if not live:
            return 0
        if not await self._advance(len(self.openids) - 1):
            return len(live)
        media_id = self.run.get("media_id") or (await runs.get_run(self.db, self.run_id) or {}).get("media_id")
        if not media_id:  # the snapshot writes the draft before the first chunk; never send without it
            return len(live)
        for attempt in range(self.tuning.retry_rounds + 1):
            await self.fan.tokens("mass").take()
            out = await self.sender.send_mass(live, str(media_id), self.seq)
            if out.status in (RETRY, THROTTLED) and attempt < self.tuning.retry_rounds:
                await asyncio.sleep(self.tuning.retry_delay)
                continue
            if out.status in (QUOTA, FATAL):
                self.fatal = out if out.status == FATAL else None
                self.stop = out.status
                return len(live)
            if out.token_trouble:  # nothing was sent: the batch stays pending for a later retry
                return len(live)
            if out.status in (RETRY, THROTTLED):
                out = Outcome(FAILED, errcode=out.errcode, reason=out.reason or "微信系统繁忙，多次重试仍失败")
            for openid in live:
                self._record(openid, out)
            return 0
        return len(live)

    async def _advance(self, i: int) -> bool:
        """Move the watermark past recipient i before it is attempted (False: the lease is gone)."""
        async with self._wm_lock:
            if i < self.wm:
                return True
            new = min(len(self.openids), i + self.tuning.wm_step)
            ok = await runs.advance_wm(self.db, self.cid, self.fan.owner, new, clock.now(), self.fan.lease_until())
            if not ok:
                self.stop = "lost"
                return False
            self.wm = new
            return True

    # --- records ----------------------------------------------------------------------------------
    def _record(self, openid: str, out: Outcome) -> None:
        doc: dict[str, Any] = {"_id": deliveries.record_id(self.run_id, openid), "status": out.status,
                               "at": self.fan.clock()}  # fmt: skip
        if out.msgid is not None:
            doc["msgid"] = out.msgid
        if out.errcode is not None:
            doc["errcode"] = out.errcode
        if out.reason:
            doc["reason"] = out.reason
        if out.errcode == 43004:
            self.gone.append(openid)
        self.buffer.append(doc)

    async def _maybe_flush(self) -> None:
        if len(self.buffer) >= self.tuning.flush_size or (
            self.buffer and time.monotonic() - self._last_flush >= self.tuning.flush_seconds
        ):
            await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:
            batch, self.buffer = self.buffer, []
            self._last_flush = time.monotonic()
            if not batch:
                return
            dups = set(await deliveries.insert_many(self.db, batch))
            added = Counter(d["status"] for d in batch if d["_id"] not in dups)
            if self.channel in ("template", "mass"):  # WeChat reports each send (mass: each batch) by msgid
                msgids = sorted({d["msgid"] for d in batch if "msgid" in d})
                await push_receipts.remember(self.deps, self.run_id, msgids)
            elif self.channel == "subscribe":  # ... and subscribe notices by template and person
                sent = [deliveries.openid_of(self.run_id, d["_id"]) for d in batch if d["status"] == SENT]
                template_id = str(self.sender.content.get("template_id", ""))
                await push_receipts.remember_subscribe(self.deps, self.run_id, template_id, sent)
            self.counts.update(added)
            if dups:  # recorded by an earlier holder: theirs is the truth
                found = await deliveries.find(self.db, sorted(dups), {"status": 1})
                self.counts.update(str(d.get("status")) for d in found.values())
            await self.fan.state.count(self.run_id, self.seq, dict(added))
            for status, n in added.items():
                self.deps.metrics.push_deliveries.labels(self.channel, status).inc(n)
            gone, self.gone = self.gone, []
        if gone:
            self.fan.followers_left(gone)

    # --- the end ----------------------------------------------------------------------------------
    def _exact(self) -> dict[str, int]:
        return {k: int(self.counts.get(k, 0)) for k in COUNTS}

    async def _finish(self) -> str:
        if self.stop == "lost":
            log.warning("push run %s chunk %s: lease lost, another holder continues", self.run_id, self.seq)
            return "lost"
        counts = self._exact()
        if not self.stop and not self.left:
            if await runs.complete_chunk(self.db, self.cid, self.fan.owner, counts):
                await self.fan.state.count(self.run_id, self.seq, counts, exact=True)
                await push_control.maybe_finish(self.deps, self.run_id)
            return "done"
        if await runs.release_chunk(self.db, self.cid, self.fan.owner, clean=True, counts=counts):
            await self.fan.state.requeue(self.run_id, [self.seq])  # the next free slot takes it up again
        await self.fan.state.count(self.run_id, self.seq, counts, exact=True)
        if self.stop == QUOTA:
            await push_control.quota_pause(self.deps, self.channel, self.fan.clock())
        elif self.stop == FATAL:
            await self._fail_run()
        return self.stop or "released"

    async def _fail_run(self) -> None:
        if self.fatal is None:
            return
        reason = f"推送已停止：{self.fatal.reason}（微信错误码 {self.fatal.errcode}）"
        await push_control.set_status(self.deps, self.run_id, push_control.ACTIVE, "failed", reason=reason)

    async def _watch(self) -> None:
        """Stop when the run is paused/cancelled or the process stops; keep the lease alive."""
        renewed = time.monotonic()
        every = self.tuning.lease_seconds / 3
        while True:
            await asyncio.sleep(min(0.25, every))
            try:
                if self.fan.stopping:
                    self.stop = self.stop or "shutdown"
                status = await self.fan.state.status(self.run_id)
                if status is not None and status != "running":
                    self.stop = self.stop or status
                if time.monotonic() - renewed >= every:
                    if not await runs.renew_chunk(self.db, self.cid, self.fan.owner, self.fan.lease_until()):
                        self.stop = "lost"
                        return
                    renewed = time.monotonic()
            except Exception:  # noqa: BLE001 - a failed check is retried; a lapsed lease stops the chunk
                log.exception("push run %s chunk %s: watch failed", self.run_id, self.seq)
                if time.monotonic() - renewed > self.tuning.lease_seconds * 0.8:
                    self.stop = "lost"
                    return
