"""Cutting a run's audience into chunks, resumably (one instance per run, under a lease).

The audience is read once, as a stream, and frozen into chunk documents of `chunk_size` openids
(10,000 for mass sends: one mass/send call each). Workers on every instance start sending the
first chunks while later ones are still being cut. After each chunk the run's checkpoint
(`snap.seq`, `snap.resume`) moves on; a crash between inserting a chunk and checkpointing it is
healed by probing for chunks past the checkpoint before continuing, so the stream resumes exactly
after the last chunk written.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core import clock
from core.wechat.errors import WeChatError
from services.pushes import audiences
from services.pushes import control as push_control
from services.pushes import runs_store as runs
from services.pushes import store as push_store

if TYPE_CHECKING:
    from services.pushes.fanout import Fanout

log = logging.getLogger(__name__)


async def cut(fan: Fanout, run: dict[str, Any]) -> None:
    deps, db, run_id, owner = fan.deps, fan.deps.db, run["_id"], fan.owner
    push = await push_store.get(db, run["push"])
    if push is None:
        await push_control.set_status(deps, run_id, push_control.ACTIVE, "failed", reason="推送已被删除")
        return
    snap = run["snap"]
    seq, resume, total = int(snap.get("seq", 0)), snap.get("resume"), int(snap.get("total", 0))
    while (written := await runs.get_chunk(db, run_id, seq)) is not None:  # inserted, not checkpointed
        seq, resume, total = seq + 1, written["resume"], total + len(written["openids"])
    if run["channel"] == "mass" and not run.get("media_id") and not await _draft(fan, run, push):
        return
    size = fan.tuning.mass_chunk_size if run["channel"] == "mass" else fan.tuning.chunk_size
    custom = run["channel"] == "custom"
    async for batch in audiences.batches(db, push, resume, size, with_interaction=custom):
        if fan.stopping or await fan.state.status(run_id) in ("cancelled", "failed"):
            await runs.checkpoint_snapshot(db, run_id, owner, seq=seq, resume=resume, total=total,
                                           until=runs.EPOCH)  # fmt: skip
            return
        extra = {"lia": batch.lia} if custom else {}
        await runs.insert_chunk(db, runs.new_chunk(run_id, seq, batch.openids, batch.skips, batch.resume, **extra))
        seq, resume, total = seq + 1, batch.resume, total + len(batch.openids)
        if not await runs.checkpoint_snapshot(db, run_id, owner, seq=seq, resume=resume, total=total,
                                              until=fan.lease_until()):  # fmt: skip
            log.warning("push run %s: snapshot lease lost at chunk %s", run_id, seq)
            return
        await fan.state.mirror(run_id, {"chunks": seq, "total": total})
    if await runs.checkpoint_snapshot(db, run_id, owner, seq=seq, resume=resume, total=total, until=runs.EPOCH,
                                      done=True):  # fmt: skip
        await fan.state.mirror(run_id, {"chunks": seq, "total": total, "snap_done": 1})
        log.info("push run %s: audience of %s in %s chunks", run_id, total, seq)
        if seq == 0:
            await push_control.maybe_finish(deps, run_id)


async def _draft(fan: Fanout, run: dict[str, Any], push: dict[str, Any]) -> bool:
    """A mass send needs its articles as a draft first (draft/add); one per run."""
    try:
        media_id = await fan.deps.oa.draft_add(push["message"]["articles"])
    except WeChatError as exc:
        if exc.is_quota:
            await push_control.quota_pause(fan.deps, "mass", fan.clock())
            await runs.release_snapshot(fan.deps.db, run["_id"], fan.owner)
        else:
            reason = f"群发图文草稿创建失败：{exc.text}（微信错误码 {exc.errcode}）"
            await push_control.set_status(fan.deps, run["_id"], push_control.ACTIVE, "failed", reason=reason)
        return False
    updated = await runs.set_run(fan.deps.db, run["_id"], None, {"media_id": media_id, "draft_at": clock.now()})
    run["media_id"] = (updated or {}).get("media_id", media_id)
    return True
