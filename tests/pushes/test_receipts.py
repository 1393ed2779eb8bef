"""Template messages' delivery receipts: WeChat's TEMPLATESENDJOBFINISH reports reach the delivery
records, the run's counts, the progress the console shows and the CSV report — each once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.deps import Deps
from services.pushes import progress as push_progress
from services.pushes import receipts as push_receipts
from services.pushes import receipts_live
from services.pushes.fanout import Fanout
from tests.pushes.conftest import PROVINCE, TEMPLATE, ids, records, seed_followers, send_now, wait_for, wait_run
from tests.pushes.test_channels import MASS, subscribe_push

REPORT = "TEMPLATESENDJOBFINISH"


async def _flush(deps: Deps, consumer: str) -> int:
    return await push_receipts.flush(deps, settle_ms=0, consumer=consumer)


async def _receipts(deps: Deps, push_id: str, complete: Callable[[dict[str, int]], bool]) -> dict[str, int]:
    """The receipts the console shows, once complete: entries another instance (the running fan-out)
    took first are applied by it after the settling delay."""
    found: dict[str, int] = {}

    async def check() -> bool:
        nonlocal found
        found = (await push_progress.progress(deps, push_id, editor_org=PROVINCE))["receipts"]
        return complete(found)

    await wait_for(check, 15, "receipts applied")
    return found


async def test_receipts_reach_records_progress_and_report_once(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids = ids("oRcp", 12)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, TEMPLATE)
    await wait_run(deps, push_id)
    recs = await records(deps, push_id)
    statuses = ["success"] * 9 + ["failed:user block"] * 2 + ["failed: system failed"]
    for (openid, rec), status in zip(sorted(recs.items()), statuses, strict=True):
        fields = {"FromUserName": openid, "MsgID": rec["msgid"], "Status": status}
        await push_receipts.on_report(deps, REPORT, fields)
        await push_receipts.on_report(deps, REPORT, fields)  # reported twice: counted once
    await push_receipts.on_report(deps, REPORT, {"FromUserName": "o_x", "MsgID": 987654321, "Status": "success"})
    await push_receipts.on_report(deps, "masssendjobfinish", {"FromUserName": "gh_x", "MsgID": 1, "Status": "ok"})

    assert await push_receipts.flush(deps, consumer="a") == 0  # too fresh: a record may still be on its way
    # Two instances' consumers (and the fan-out's own) share the entries; each receipt counts once.
    await asyncio.gather(_flush(deps, "a"), _flush(deps, "b"))
    receipts = await _receipts(deps, push_id, lambda r: r["delivered"] + r["blocked"] + r["failed"] == 12)
    assert (receipts["delivered"], receipts["blocked"], receipts["failed"], receipts["mass_sent"]) == (9, 2, 1, 0)
    marks = [r.get("receipt") for r in (await records(deps, push_id)).values()]
    assert sorted(marks) == ["blocked"] * 2 + ["delivered"] * 9 + ["failed"]
    text = "".join([part async for part in push_progress.report_csv(deps, push_id, editor_org=PROVINCE)])
    assert text.count("已送达") == 9 and text.count("用户拒收") == 2 and text.count("送达失败") == 1
    assert await receipts_live.backlog(deps.redis) == 0  # acknowledged entries are deleted: no cap needed


async def test_mass_batch_reports_add_up_on_the_run_once(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids = ids("oMassRcp", 85)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, MASS)
    await wait_run(deps, push_id)
    jobs = list(fake_wechat.state.mass_jobs.values())
    assert len(jobs) == 3  # batches of 40, 40 and 5
    jobs[0] = {**jobs[0], "ErrorCount": 2, "SentCount": jobs[0]["SentCount"] - 2}  # WeChat failed two
    for job in [*jobs, jobs[1]]:  # the second batch reported twice
        fields = {"FromUserName": "gh_sdgh_demo", "MsgID": job["msg_id"], "Status": job["Status"]}
        fields |= {k: job[k] for k in ("TotalCount", "FilterCount", "SentCount", "ErrorCount")}
        await push_receipts.on_report(deps, "masssendjobfinish", fields)
    await asyncio.gather(_flush(deps, "a"), _flush(deps, "b"))
    receipts = await _receipts(deps, push_id, lambda r: r["mass_filtered"] == 85)
    assert (receipts["mass_filtered"], receipts["mass_sent"], receipts["mass_error"]) == (85, 83, 2)
    assert receipts["delivered"] == 0


async def test_subscribe_notice_receipts_match_template_and_person(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids, push_id = await subscribe_push(deps, fake_wechat, "oSubRcp", 6, 5)
    recs = await records(deps, push_id)
    assert [recs[o]["status"] for o in openids] == ["sent"] * 5 + ["failed"]  # the last gave no consent

    def report(openid: str, *notices: tuple[str, str]) -> dict[str, object]:
        items = [
            {"TemplateId": t, "MsgID": 8000 + i, "ErrorCode": 0, "ErrorStatus": s} for i, (t, s) in enumerate(notices)
        ]
        return {"FromUserName": openid, "SubscribeMsgSentEvent": {"List": items[0] if len(items) == 1 else items}}

    tpl = "TPL_VOTE_RESULT"
    sent = [report(openids[0], (tpl, "success")), report(openids[1], (tpl, "success")),
            report(openids[2], (tpl, "failed:user block")),
            report(openids[3], ("TPL_OTHER", "success"), (tpl, "failed:system failed")),  # two notices, one ours
            report(openids[5], (tpl, "success"))]  # fmt: skip  # never sent to: not ours to count
    for fields in [*sent, sent[0]]:  # the first reported twice
        await push_receipts.on_report(deps, "subscribe_msg_sent_event", fields)
    await asyncio.gather(_flush(deps, "a"), _flush(deps, "b"))

    receipts = await _receipts(deps, push_id, lambda r: r["delivered"] + r["blocked"] + r["failed"] == 4)
    assert (receipts["delivered"], receipts["blocked"], receipts["failed"]) == (2, 1, 1)
    marks = {o: r.get("receipt") for o, r in (await records(deps, push_id)).items()}
    assert [marks[o] for o in openids] == ["delivered", "delivered", "blocked", "failed", None, None]


async def test_a_dead_readers_entries_are_claimed_and_the_old_stream_drained(
    deps: Deps, fake_wechat, fan: Fanout
) -> None:
    """An instance read reports and died before acknowledging them: another one claims them after
    the idle time and applies them once. Reports queued by the previous release in the global
    stream are drained too. The msgid map is partitioned: no one hash per day."""
    openids = ids("oClaim", 30)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, TEMPLATE)
    await wait_run(deps, push_id)
    recs = sorted((await records(deps, push_id)).items())
    day = f"{next(iter(recs))[1]['at']:%Y%m%d}"
    assert not await deps.redis.exists(f"push:msgid:{day}")
    parts = [k async for k in deps.redis.scan_iter(match=f"push:msgid:{day}:*")]
    assert len(parts) > 10  # 30 msgids over the day's parts

    await fan.stop()  # only the two instances below read from now on
    for openid, rec in recs[:20]:
        await push_receipts.on_report(
            deps, REPORT, {"FromUserName": openid, "MsgID": rec["msgid"], "Status": "success"}
        )
    read = await receipts_live.read(deps.redis, "dead-instance", 1000)
    assert sum(len(v) for v in read.values()) == 20  # read, never acknowledged: it died
    for openid, rec in recs[20:]:  # the previous release's stream (before the partitions)
        await deps.redis.xadd(receipts_live.LEGACY_STREAM, {"m": str(rec["msgid"]), "o": openid, "s": "success"})

    assert await push_receipts.flush(deps, settle_ms=0, consumer="alive", claim_idle_ms=60_000) == 10  # old stream
    assert not await deps.redis.exists(receipts_live.LEGACY_STREAM)
    await asyncio.sleep(0.3)
    assert await push_receipts.flush(deps, settle_ms=0, consumer="alive", claim_idle_ms=200) == 20  # claimed
    receipts = (await push_progress.progress(deps, push_id, editor_org=PROVINCE))["receipts"]
    assert receipts["delivered"] == 30
    assert await receipts_live.backlog(deps.redis) == 0
    assert await push_receipts.flush(deps, settle_ms=0, consumer="alive", claim_idle_ms=0) == 0  # nothing twice
