"""Console pages: a draw-mode lottery walked through every step by an editor, instant-win stock, birthday
policy with next month's preview; everything audited; a viewer cannot change anything."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from core.clock import now
from core.deps import Deps
from services.lotteries import entering
from services.members import roster
from tests.console.conftest import Client, client, make_editor  # noqa: F401 - console fixtures
from tests.lotteries.conftest import add_members, member_user

CITY = "370100"


async def test_editor_runs_a_draw_from_the_console(client: Client, deps: Deps) -> None:  # noqa: F811
    c = await client("jn_lot", org=CITY, role="editor")
    until = now() + timedelta(seconds=2)
    form = {"mode": "draw", "title": "疗休养抽签", "tiers": "一等奖|疗休养名额|2|0\n二等奖|体检卡|1|30000",
            "entries_until": until.strftime("%Y-%m-%dT%H:%M:%S"), "beacon_kind": "manual",
            "beacon_description": "福彩3D", "form_key": "lotform12345"}  # fmt: skip
    first = await c.post("/admin/lotteries/new", form)
    again = await c.post("/admin/lotteries/new", form)  # a double submit creates one lottery
    assert first.status == again.status == 303 and first.location == again.location
    lot = first.location.rsplit("/", 1)[-1]
    page = await c.get(f"/admin/lotteries/{lot}")
    assert page.status == 200 and re.search(r"data-commitment>[0-9a-f]{64}<", page.text)

    await add_members(deps, [f"W{i:03d}" for i in range(6)])
    for i in range(6):
        await entering.enter(deps, member_user(f"W{i:03d}"), lot)
    await asyncio.sleep(max(0.0, (until - now()).total_seconds()) + 0.1)
    closed = await c.post(f"/admin/lotteries/{lot}", {"action": "close", "beacon_description": "福彩3D 第2026331期"})
    assert closed.status == 303
    drawn = await c.post(f"/admin/lotteries/{lot}", {"action": "draw", "beacon_value": "5 2 9"})
    assert drawn.status == 303
    await c.post(f"/admin/lotteries/{lot}", {"action": "publish"})
    detail = (await c.api("GET", f"/api/admin/lotteries/{lot}")).json
    assert detail["state"] == "publicized" and len(detail["winners"]) == 3
    out = detail["winners"][0]["code"]
    bad = await c.post(f"/admin/lotteries/{lot}", {"action": "appeal", "code": out, "reason": ""})
    assert bad.status == 400 and "理由" in bad.text
    ok = await c.post(f"/admin/lotteries/{lot}", {"action": "appeal", "code": out, "reason": "重复报名"})
    assert ok.status == 303
    csv = await c.get(f"/admin/lotteries/{lot}/winners.csv")
    assert csv.status == 200 and out not in csv.text and "W0" in csv.text
    entries = await c.get(f"/admin/lotteries/{lot}/entries.csv")
    assert entries.status == 200 and len(entries.text.strip().splitlines()) == 7 and out in entries.text
    actions = {d["action"] async for d in deps.db.audit_log.find({"target_id": lot})}
    assert {"lottery.create", "lottery.close", "lottery.draw", "lottery.publish", "lottery.appeal"} <= actions

    viewer = await client("jn_view", org=CITY, role="viewer")
    refused = await viewer.post(f"/admin/lotteries/{lot}", {"action": "finalize"})
    assert refused.status == 403
    other_city = await client("qd_lot", org="370200", role="editor")
    assert (await other_city.get(f"/admin/lotteries/{lot}")).status == 404


async def test_instant_stock_page_and_birthday_policy(client: Client, deps: Deps) -> None:  # noqa: F811
    c = await client("jn_bd", org=CITY, role="editor")
    ends = (now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "mode": "instant",
        "title": "即开",
        "ends_at": ends,
        "tiers": "一等奖|水杯|3|1000|50",
        "fallback_title": "谢谢券",
    }
    made = await c.post("/admin/lotteries/new", form)
    assert made.status == 303, made.text[:300]
    page = await c.get(made.location)
    assert "水杯" in page.text and "谢谢券" in page.text

    nxt = now().replace(day=1) + timedelta(days=32)
    csv = f"会员编号,姓名,生日\nY0001,甲,{nxt.month:02d}-03\nY0002,乙,{nxt.month:02d}-04\nY0003,丙,\n"
    await roster.import_roster(deps, "370102", csv.encode(), "r.csv")
    saved = await c.post("/admin/birthdays", {"enabled": "1", "title": "生日蛋糕券", "value_cents": "5000",
                                              "budget_cents": "500000", "window_days": "30"})  # fmt: skip
    assert saved.status == 303
    page = await c.get("/admin/birthdays")
    assert page.status == 200 and "data-not-bound>2<" in page.text and "data-no-birthday>1<" in page.text
    preview = (await c.api("GET", "/api/admin/birthdays/preview")).json
    assert preview["month"] == nxt.month and [x["member_no"] for x in preview["not_bound"]] == ["Y0001", "Y0002"]
    assert await deps.db.audit_log.count_documents({"action": "birthday_policy.create"}) == 1
