"""Cutting a run's audience into chunks, in parallel key ranges, resumably.

Two steps, each under a lease in MongoDB so a dead instance's share is taken over:
- `plan` (one instance, the run's `snap` lease): the mass draft, then the audience's key space
  split into `Tuning.snap_ranges` ranges: the followers' roster in Redis for a push to orgs' followers
  (audiences.plan_roster_ranges; spread over the cluster's masters), MongoDB otherwise, or while the
  roster is being rebuilt (audiences.plan_ranges). The source is kept with each range;
- `cut_range` (any instance with a free snapshotter, one range each): the range is read as a
  stream in key order and frozen into chunk documents of `chunk_size` openids (10,000 for mass
  sends: one mass/send call each), queued for the workers as they are written. Chunks are written
  `snap_group` at a time (one insert, one checkpoint: the database's cost is mostly per operation);
  after each group the range's checkpoint (`k`, `resume`) moves on. A crash between inserting chunks
  and checkpointing them is healed by probing for the range's next chunks before continuing, so the
  stream resumes exactly after the last chunk written. The range cut last marks the snapshot done.

Workers on every instance send the first chunks while later ones are still being cut.
"""

from __future__ import annotations

import logging
from typing import Any

from core import clock
from core.wechat.errors import WeChatError
from services.followers import roster
from services.pushes import audiences, keyspace
from services.pushes import control as push_control
from services.pushes import runs_store as runs
from services.pushes import store as push_store
from services.pushes.context import FanoutContext
from storage.batching import in_groups

log = logging.getLogger(__name__)
STOPPED = ("cancelled", "failed")


async def plan(fan: FanoutContext, run: dict[str, Any]) -> bool:
    """Split the audience into ranges (the caller holds the run's snapshot lease). False: not now."""
    deps, db, run_id = fan.deps, fan.deps.db, run["_id"]
    push = await push_store.get(db, run["push"])
    if push is None:
        await push_control.set_status(deps, run_id, push_control.ACTIVE, "failed", reason="推送已被删除")
        return False
    if run["channel"] == "mass" and not run.get("media_id") and not await _draft(fan, run, push):
        return False
    snap = run["snap"]
    size = fan.tuning.mass_chunk_size if run["channel"] == "mass" else fan.tuning.chunk_size
    n = max(1, fan.tuning.snap_ranges)
    sets = audiences.roster_sets(push, run["channel"])
    source = audiences.DATABASE
    if int(snap.get("seq", 0)) > 0:  # cut half way by a release that cut in one stream: go on in one range
        ranges: list[tuple[Any, Any]] = [(None, None)]
    elif sets is not None and await roster.ready(deps.redis):
        source = audiences.ROSTER
        ranges = await audiences.plan_roster_ranges(deps.redis, sets, n, size)
    else:
        followers = await keyspace.follower_keys(deps) if push["audience"]["kind"] in ("all", "tags", "orgs") else None
        ranges = await audiences.plan_ranges(db, push, n, size, followers)
    if not await runs.plan_snapshot(db, run_id, fan.owner, ranges, source):
        return False
    if int(snap.get("seq", 0)) > 0:
        await runs.continue_range(db, run_id, k=int(snap["seq"]), resume=snap.get("resume"), total=int(snap["total"]))
    await push_control.runs_changed(deps, run_id)
    log.info("push run %s: audience planned in %s ranges (%s)", run_id, len(ranges), source)
    return True


async def cut_range(fan: FanoutContext, run: dict[str, Any], rng: dict[str, Any]) -> None:
    """Cut one leased range into chunks; the last range done completes the snapshot."""
    deps, db, run_id, owner = fan.deps, fan.deps.db, run["_id"], fan.owner
    push = await push_store.get(db, run["push"])
    if push is None:
        await push_control.set_status(deps, run_id, push_control.ACTIVE, "failed", reason="推送已被删除")
        return
    rid, r = rng["_id"], int(rng["r"])
    k, resume, total = int(rng["k"]), rng["resume"], int(rng["total"])
    while (written := await runs.get_chunk(db, run_id, runs.range_seq(r, k))) is not None:
        # inserted, not checkpointed (and perhaps never queued): take it into account, queue it again
        await fan.state.requeue(run_id, [runs.range_seq(r, k)])
        k, resume, total = k + 1, written["resume"], total + len(written["openids"])
    size = fan.tuning.mass_chunk_size if run["channel"] == "mass" else fan.tuning.chunk_size
    custom = run["channel"] == "custom"
    sets = audiences.roster_sets(push, run["channel"])
    from_roster = rng.get("source") == audiences.ROSTER and sets is not None
    if from_roster and sets is not None:
        stream = audiences.roster_batches(deps.redis, sets, resume, rng.get("hi"), size)
    else:
        stream = audiences.batches(db, push, resume, size, upto=rng.get("hi"), with_interaction=custom)
    # A roster lost (and perhaps rebuilt) while it was read may have given a short batch or an early
    # end: each batch and the end count only if the roster's generation did not move meanwhile;
    # otherwise the range is left at its last good chunk until the roster is complete again.
    gen = await roster.generation(deps.redis) if from_roster else None
    if from_roster and gen is None:
        await runs.checkpoint_range(db, rid, owner, k=k, resume=resume, total=total, until=runs.EPOCH)
        return
    async for group in in_groups(stream, max(1, fan.tuning.snap_group)):
        if fan.stopping or await fan.state.status(run_id) in STOPPED:
            await runs.checkpoint_range(db, rid, owner, k=k, resume=resume, total=total, until=runs.EPOCH)
            return
        if from_roster and await roster.generation(deps.redis) != gen:
            await runs.checkpoint_range(db, rid, owner, k=k, resume=resume, total=total, until=runs.EPOCH)
            return
        seqs = [runs.range_seq(r, k + i) for i in range(len(group))]
        docs = [
            runs.new_chunk(run_id, seq, b.openids, b.skips, b.resume, **({"lia": b.lia} if custom else {}))
            for seq, b in zip(seqs, group, strict=True)
        ]
        await runs.insert_chunks(db, docs)
        recipients = sum(len(b.openids) for b in group)
        k, resume, total = k + len(group), group[-1].resume, total + recipients
        if not await runs.checkpoint_range(db, rid, owner, k=k, resume=resume, total=total, until=fan.lease_until()):
            log.warning("push run %s: range %s lease lost at chunk %s", run_id, r, k)
            return
        await fan.state.chunks_written(run_id, seqs, recipients)
    if from_roster and await roster.generation(deps.redis) != gen:
        await runs.checkpoint_range(db, rid, owner, k=k, resume=resume, total=total, until=runs.EPOCH)
        return
    if not await runs.checkpoint_range(db, rid, owner, k=k, resume=resume, total=total, until=runs.EPOCH,
                                       done=True):  # fmt: skip
        return
    finished = await runs.finish_snapshot(db, run_id)
    if finished is not None:
        snap = finished["snap"]
        await fan.state.set_snapshot(run_id, int(snap["seq"]), int(snap["total"]))
        log.info("push run %s: audience of %s in %s chunks", run_id, snap["total"], snap["seq"])
        if int(snap["seq"]) == 0:
            await push_control.maybe_finish(deps, run_id)


async def _draft(fan: FanoutContext, run: dict[str, Any], push: dict[str, Any]) -> bool:
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


async def cut(fan: FanoutContext, run: dict[str, Any]) -> None:
    """Plan (the caller holds the snapshot lease) and cut every range here, one after the other."""
    db, run_id = fan.deps.db, run["_id"]
    if run["snap"].get("planned") is None and not await plan(fan, run):
        return
    while (rng := await runs.claim_range(db, run_id, fan.owner, clock.now(), fan.lease_until())) is not None:
        await cut_range(fan, run, rng)
