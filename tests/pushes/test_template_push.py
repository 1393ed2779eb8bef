"""A template push end to end: every follower once, records, live progress, the CSV report."""

from __future__ import annotations

from core.deps import Deps
from services.pushes import progress as push_progress
from services.pushes.fanout import Fanout
from tests.pushes.conftest import PROVINCE, TEMPLATE, ids, records, seed_followers, send_now, wait_push, wait_run


async def test_template_push_reaches_everyone_once(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids = ids("oTpl", 130)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, TEMPLATE)
    await wait_run(deps, push_id)

    state = fake_wechat.state
    assert state.delivered_count("template") == 130
    assert state.duplicate_deliveries("template") == []
    recs = await records(deps, push_id)
    assert set(recs) == set(openids)
    assert {r["status"] for r in recs.values()} == {"sent"}
    assert all(isinstance(r.get("msgid"), int) for r in recs.values())

    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert (progress["status"], progress["total"], progress["sent"], progress["percent"]) == ("done", 130, 130, 100.0)
    assert progress["eta_seconds"] == 0.0
    await wait_push(deps, push_id, "done")

    lines = [part async for part in push_progress.report_csv(deps, push_id, editor_org=PROVINCE)]
    text = "".join(lines)
    assert text.startswith("\ufeffopenid,结果")
    assert text.count("已发送") == 130
