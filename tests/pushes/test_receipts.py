"""Template messages' delivery receipts: WeChat's TEMPLATESENDJOBFINISH reports reach the delivery
records, the run's counts, the progress the console shows and the CSV report — each once."""

from __future__ import annotations

import asyncio

from core.deps import Deps
from services import push_progress, push_receipts
from services.fanout import Fanout
from tests.pushes.conftest import PROVINCE, TEMPLATE, ids, records, seed_followers, send_now, wait_run

REPORT = "TEMPLATESENDJOBFINISH"


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
    await push_receipts.on_report(deps, "MASSSENDJOBFINISH", {"MsgID": 1, "Status": "send success"})

    assert await push_receipts.flush(deps) == 0  # too fresh: a record may still be on its way
    # Two instances' supervisors racing over the same batch still count each receipt once.
    handled = await asyncio.gather(push_receipts.flush(deps, settle_ms=0), push_receipts.flush(deps, settle_ms=0))
    assert sum(handled) >= 25

    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert progress["receipts"] == {"delivered": 9, "blocked": 2, "failed": 1}
    receipts = [r.get("receipt") for r in (await records(deps, push_id)).values()]
    assert sorted(receipts) == ["blocked"] * 2 + ["delivered"] * 9 + ["failed"]
    text = "".join([part async for part in push_progress.report_csv(deps, push_id, editor_org=PROVINCE)])
    assert text.count("已送达") == 9 and text.count("用户拒收") == 2 and text.count("送达失败") == 1
    assert await deps.redis.xlen(push_receipts.STREAM) == 0
