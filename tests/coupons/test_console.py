"""Editors create a batch from the console form, watch its buckets, and review held grants."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.coupons import grabbing, jobs
from tests.console.conftest import Client
from tests.coupons.conftest import LIXIA, SHIZHONG, add_members


def _t(dt: Any) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


async def test_create_watch_and_review_a_batch_in_the_console(deps: Deps, client: Client, fake_wechat: Any) -> None:
    lixia = await add_members(deps, LIXIA, 3, "L")
    await add_members(deps, SHIZHONG, 1, "S")
    fake_wechat.state.risk_ranks[lixia[0].openid] = 4
    editor = await client("jn_editor", org="370100", role="editor")
    at = now()
    bad = await editor.post("/admin/coupons", {"title": "", "stock": "x", "waves": "明天", "expires_at": ""})
    assert bad.status == 400 and "field-error" in bad.text
    form = {"title": "超市 20 元券", "value": "20", "stock": "8", "expires_at": _t(at + timedelta(days=30)),
            "waves": f"{_t(at - timedelta(minutes=1))}, {_t(at + timedelta(hours=1))}, 1"}  # fmt: skip
    made = await editor.post("/admin/coupons", form)
    assert made.status == 303
    bid = re.fullmatch(r"/admin/coupons/([0-9a-f]{12})", made.location).group(1)  # type: ignore[union-attr]
    for u in lixia:
        await grabbing.grab(deps, u, bid, "10.0.0.1")
    await jobs.drain(deps)
    page = await editor.get(f"/admin/coupons/{bid}")
    assert page.status == 200 and 'data-agrees="yes"' in page.text
    cells = r'<td>3</td><td data-col="allotted">6</td><td data-col="granted">3</td><td data-col="left">3</td>'
    row = re.search(r'<tr data-bucket="370102"><td>[^<]*</td>' + cells, page.text)
    assert row, page.text  # 历下: 3 members, 6 of 8 allotted, 3 grabbed, 3 left
    assert f'data-member="{lixia[0].member_id}"' in page.text and "风险等级 4" in page.text
    live = await editor.api("GET", f"/api/admin/coupons/{bid}/live")
    assert live.json["granted_redis"] == 3 and live.json["stored"] == 3 and live.json["agrees"]

    released = await editor.post(f"/admin/coupons/{bid}", {"action": "release", "member_id": lixia[0].member_id})
    assert released.status == 303
    again = await editor.post(f"/admin/coupons/{bid}", {"action": "release", "member_id": lixia[0].member_id})
    assert again.status == 409 and "不在待审核" in again.text
    csv = await editor.get(f"/admin/coupons/{bid}/grants.csv")
    assert csv.status == 200 and csv.text.count("\r\n") == 4 and lixia[0].member_id in csv.text and "已发放" in csv.text
    closed = await editor.post(f"/admin/coupons/{bid}", {"action": "close"})
    assert closed.status == 303
    qingdao = await client("qd_editor", org="370200", role="editor")
    assert (await qingdao.get(f"/admin/coupons/{bid}")).status == 404
    actions = {
        d["action"]
        async for d in deps.db.audit_log.find({"target_id": {"$in": [bid, f"cpn:{bid}:{lixia[0].member_id}"]}})
    }
    assert {"create", "update"} <= actions
