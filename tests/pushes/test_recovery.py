"""What a restarted pipeline does with a chunk its crashed holder left behind (deterministic, in-process).

The crash is staged exactly: the holder had moved the watermark to 20, recorded the first 10
recipients, and its sends to recipients 10..14 had reached WeChat without being recorded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core import clock
from core.deps import Deps
from services.pushes import compose as pushes
from services.pushes import control as push_control
from services.pushes import deliveries_store as deliveries
from services.pushes import runs_store as runs
from services.pushes.fanout import Fanout
from services.pushes.send import client_msg_id
from services.pushes.snapshot import cut
from tests.pushes.conftest import FAST, PROVINCE, TEMPLATE, Clock, ids, records, seed_followers, wait_run
from tests.pushes.test_channels import CUSTOM


async def _crashed(deps: Deps, fake, data: dict, attempt_age: timedelta) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def, type-arg]
    openids = ids("oCrash", 30)
    await seed_followers(deps, fake, openids)
    push = await pushes.create(deps, data, editor_org=PROVINCE, editor="editor1")
    await deps.db.pushes.update_one({"_id": push["id"]}, {"$set": {"status": "running"}})
    doc = await deps.db.pushes.find_one({"_id": push["id"]})
    run_id, _ = await push_control.start_run(deps, doc, clock.now())
    offline = Fanout(deps, replace(FAST, snap_ranges=1), business_clock=Clock())  # cuts, sends nothing
    run = await runs.claim_snapshot(deps.db, run_id, offline.owner, clock.now(), offline.lease_until())
    await cut(offline, run)
    seq0 = runs.chunk_id(run_id, 0)
    await runs.claim_chunk(deps.db, seq0, "crashed-holder", clock.now(), offline.lease_until())
    await runs.advance_wm(deps.db, seq0, "crashed-holder", 20, clock.now() - attempt_age, runs.EPOCH)  # lease lapsed
    await deliveries.insert_many(deps.db, [
        {"_id": deliveries.record_id(run_id, o), "status": "sent", "at": clock.now()} for o in openids[:10]
    ])  # fmt: skip
    for openid in openids[:15]:  # what the crashed holder had delivered
        if data["channel"] == "template":
            await deps.oa.send_template(openid, "TPL_ACTIVITY_NOTICE", {"thing1": {"value": "x"}},
                                        client_msg_id=client_msg_id(run_id, openid))  # fmt: skip
        else:
            await deps.oa.send_custom(openid, "text", {"content": "本周六心理咨询室开放，欢迎预约。"})
    return str(push["id"]), openids


async def test_template_in_doubt_is_resent_with_its_key(deps: Deps, fake_wechat) -> None:
    push_id, openids = await _crashed(deps, fake_wechat, TEMPLATE, timedelta(seconds=5))
    engine = Fanout(deps, FAST, business_clock=Clock())
    engine.start()
    try:
        await wait_run(deps, push_id)
    finally:
        await engine.stop()
    state = fake_wechat.state
    assert state.delivered_count("template") == 30 and state.duplicate_deliveries("template") == []
    recs = await records(deps, push_id)
    assert len(recs) == 30 and {r["status"] for r in recs.values()} == {"sent"}


async def test_template_in_doubt_too_late_to_resend_is_unknown(deps: Deps, fake_wechat) -> None:
    push_id, openids = await _crashed(deps, fake_wechat, TEMPLATE, timedelta(minutes=9))
    engine = Fanout(deps, FAST, business_clock=Clock())
    engine.start()
    try:
        await wait_run(deps, push_id)
    finally:
        await engine.stop()
    recs = await records(deps, push_id)
    assert [o for o in openids if recs[o]["status"] == "unknown"] == openids[10:20]
    assert fake_wechat.state.duplicate_deliveries("template") == []
    assert fake_wechat.state.delivered_count("template") == 25  # 15 before the crash + 20..29 after


async def test_customer_service_in_doubt_is_never_resent(deps: Deps, fake_wechat) -> None:
    push_id, openids = await _crashed(deps, fake_wechat, CUSTOM, timedelta(seconds=5))
    engine = Fanout(deps, FAST, business_clock=Clock())
    engine.start()
    try:
        await wait_run(deps, push_id)
    finally:
        await engine.stop()
    recs = await records(deps, push_id)
    unknown = [o for o in openids if recs[o]["status"] == "unknown"]
    assert unknown == openids[10:20]  # 10..14 did get it, 15..19 did not: we cannot tell, so we say so
    assert "未再重发" in recs[openids[12]]["reason"]
    assert fake_wechat.state.duplicate_deliveries("custom") == []
    assert fake_wechat.state.delivered_count("custom") == 25


async def test_started_push_without_its_run_is_repaired(deps: Deps, fake_wechat, fan: Fanout) -> None:
    """The process died between marking a push running and creating its run: the supervisor
    creates the run (same occurrence, so a late original would find it) and it goes out."""
    await seed_followers(deps, fake_wechat, ids("oRepair", 20))
    push = await pushes.create(deps, TEMPLATE, editor_org=PROVINCE, editor="editor1")
    started = clock.now() - timedelta(seconds=30)
    await deps.db.pushes.update_one({"_id": push["id"]}, {"$set": {"status": "running", "start_at": started}})
    await wait_run(deps, push["id"])
    run = await deps.db.push_runs.find_one({"push": push["id"]})
    assert run["_id"] == f"{push['id']}-{push_control.occurrence_key(started)}"
    assert fake_wechat.state.delivered_count("template") == 20


async def test_fire_interrupted_after_creating_its_run_is_adopted(deps: Deps, fake_wechat, fan: Fanout) -> None:
    """The leader died between creating the occurrence's run and pointing the push at it; the next
    leader fires the same occurrence again: no second run, and the first one goes out."""
    from scheduler import jobs

    await seed_followers(deps, fake_wechat, ids("oAdopt", 20))
    at = clock.now() + timedelta(hours=1)
    push = await pushes.create(deps, {**TEMPLATE, "schedule": {"kind": "at", "at": at.isoformat()}},
                               editor_org=PROVINCE, editor="editor1")  # fmt: skip
    await pushes.submit(deps, push["id"], editor_org=PROVINCE, editor="editor1")
    doc = await deps.db.pushes.find_one({"_id": push["id"]})
    occurrence = clock.localize(doc["schedule"]["at"])
    run_id = f"{push['id']}-{push_control.occurrence_key(occurrence)}"
    interrupted = {  # what start_run had written when the process died
        "_id": run_id, "push": push["id"], "org_path": doc["org_path"], "channel": "template", "version": 1,
        "occurrence": occurrence, "status": "running", "rev": 0, "created_at": clock.now(),
        "started_at": clock.now(), "snap": {"done": False, "seq": 0, "resume": None, "total": 0, "owner": None,
                                            "lease_until": runs.EPOCH},
    }  # fmt: skip
    await runs.create_run(deps.db, interrupted)
    assert await jobs.fire_push(push["id"], doc["version"], deps=deps, scheduled_at=occurrence) == run_id
    await wait_run(deps, push["id"])
    assert await deps.db.push_runs.count_documents({}) == 1
    assert fake_wechat.state.delivered_count("template") == 20
