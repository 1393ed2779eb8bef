"""Competitions over HTTP: the judge console (blind codes only), the editors' API and exports, workers' views."""

from __future__ import annotations

import asyncio
import io

import openpyxl

from core.deps import Deps
from services.competitions import closing, judging, panel, store
from services.members.roster import import_roster
from tests.competitions.helpers import CITY, judge_account, running, scope_of
from tests.console.conftest import Client
from tests.mp.conftest import MpClient
from tests.mp.roster_files import ROSTER, csv_bytes


async def test_judge_console_sees_only_blind_codes_and_scores_once(deps: Deps, client: Client) -> None:
    comp, _ = await running(deps, 3, 7)
    await panel.start_judging(deps, await scope_of(deps, CITY), comp.id)
    tasks = await store.assignments(deps.db, comp.id)
    judge = tasks[0]["judge"]
    mine = sorted(t["blind_code"] for t in tasks if t["judge"] == judge)
    jc = await client()
    assert (await jc.login(judge)).status == 303

    listing = await jc.api("GET", "/api/admin/judging")
    assert listing.status == 200
    [item] = listing.json["items"]
    assert [t["code"] for t in item["tasks"]] == mine
    assert "班组" not in listing.text  # entrants' names never reach a judge
    refused = await jc.api("GET", "/api/admin/competitions")
    assert refused.status == 403 and refused.json["code"] == "judge_only"
    page = await jc.get("/admin/polls")
    assert page.status == 302 and page.location == "/admin/judging"
    assert "评审任务" in (await jc.get("/admin/judging")).text

    url = f"/api/admin/judging/{comp.id}/{mine[0]}"
    bad = await jc.api("POST", url, {"values": {"c1": 12, "c2": 3}})
    assert bad.status == 400 and bad.json["message"] == "「安全管理」的分数应在 0 到 10 分之间"
    other = next(t["blind_code"] for t in tasks if t["blind_code"] not in mine)
    outside = await jc.api("POST", f"/api/admin/judging/{comp.id}/{other}", {"values": {"c1": 5, "c2": 5}})
    assert outside.status == 403 and outside.json["message"] == "该参赛编号不在您的评审任务中"
    both = await asyncio.gather(*(jc.api("POST", url, {"values": {"c1": 5, "c2": v}}) for v in (6, 7)))
    assert sorted(r.status for r in both) == [201, 409]
    assert await deps.db.comp_scores.count_documents({"competition": comp.id, "judge": judge}) == 1

    admin = await client("city_admin", org=CITY)
    matrix = await admin.api("GET", f"/api/admin/competitions/{comp.id}/matrix")
    assert matrix.status == 200 and matrix.json["progress"] == {"scored": 1, "assigned": len(tasks)}
    assert matrix.json["cells"][mine[0]][judge] == "scored"
    stranger = await client("qd_admin", org="370200")
    assert (await stranger.api("GET", f"/api/admin/competitions/{comp.id}/matrix")).status == 404


async def test_create_over_the_api_needs_the_parent_for_approval(deps: Deps, client: Client) -> None:
    from tests.competitions.helpers import new_data

    city = await client("city_editor", org=CITY, role="editor")
    body = new_data()
    created = await city.api("POST", "/api/admin/competitions", body, headers={"Idempotency-Key": "create-0001"})
    assert created.status == 201
    again = await city.api("POST", "/api/admin/competitions", body, headers={"Idempotency-Key": "create-0001"})
    assert again.json["id"] == created.json["id"]  # a retried create makes no second competition
    cid = created.json["id"]
    own = await city.api("POST", f"/api/admin/competitions/{cid}/actions/approve")
    assert own.status == 403 and "上级工会" in own.json["message"]
    province = await client("prov_editor", role="editor")
    approved = await province.api("POST", f"/api/admin/competitions/{cid}/actions/approve")
    assert approved.status == 200 and approved.json["status"] == "registration"
    late = await city.api("POST", f"/api/admin/competitions/{cid}/actions/publish")
    assert late.status == 409 and "评审中" in late.json["message"]


async def test_workers_see_their_competition_and_the_published_ranking(
    deps: Deps, client: Client, mp: MpClient
) -> None:
    assert (await import_roster(deps, "370100", csv_bytes(ROSTER), "r.csv")).ok
    comp, ids = await running(deps, 4, 8, also=(("370102001001", "张三的班组"),))
    city = await scope_of(deps, CITY)
    await panel.start_judging(deps, city, comp.id)
    for a in await store.assignments(deps.db, comp.id):
        await judging.submit(deps, await judge_account(deps, a["judge"]), comp.id, a["blind_code"], {"c1": 7, "c2": 8})

    token = await mp.login("o_zhang")
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138000"}, token)
    assert status == 200
    status, page = await mp.call("GET", "/api/mp/competitions", token=token)
    assert status == 200 and [c["id"] for c in page["items"]] == [comp.id]
    status, detail = await mp.call("GET", f"/api/mp/competitions/{comp.id}", token=token)
    assert status == 200 and detail["my_entries"] == [{"name": "张三的班组", "org": "370102001001"}]
    status, early = await mp.call("GET", f"/api/mp/competitions/{comp.id}/ranking", token=token)
    assert status == 404 and early["message"] == "评审结果尚未公示"
    outsider = await mp.login("o_nobody")
    assert (await mp.call("GET", f"/api/mp/competitions/{comp.id}", token=outsider))[0] == 404

    await closing.publish(deps, city, comp.id)
    status, ranking = await mp.call("GET", f"/api/mp/competitions/{comp.id}/ranking?limit=2", token=token)
    assert status == 200 and len(ranking["items"]) == 2 and ranking["next_cursor"] == "2"
    assert ranking["items"][0]["rank"] == 1 and ranking["items"][0]["score"] == 7.6

    admin = await client("city_admin2", org=CITY)
    raw = await admin.http.get(admin.base + f"/admin/competitions/{comp.id}/export/ranking.xlsx")
    assert raw.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(await raw.read())).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("名次", "参赛单位", "单位编码", "得分", "有效评分数") and len(rows) == 1 + len(ids)
    assert await deps.db.audit_log.count_documents({"target_id": comp.id, "action": "export"}) == 1


async def test_console_pages_render_and_a_judge_scores_by_form(deps: Deps, client: Client) -> None:
    comp, ids = await running(deps, 3, 7)
    city = await scope_of(deps, CITY)
    entry = await store.entry(deps.db, ids[0])
    assert entry is not None
    from services.competitions import entries

    await entries.submit_report(
        deps, await scope_of(deps, entry["org"]), ids[0], "s1", "排查总结", {"隐患排查数": 3, "整改率": 1}, []
    )
    await panel.start_judging(deps, city, comp.id)
    admin = await client("pages_admin", org=CITY)
    listing = await admin.get("/admin/competitions")
    assert listing.status == 200 and comp.title in listing.text
    page = await admin.get(f"/admin/competitions/{comp.id}")
    assert page.status == 200 and "评审进度" in page.text and "隐患排查数" in page.text
    stepped = await admin.post(f"/admin/competitions/{comp.id}", {"action": "publish"})
    assert stepped.status == 409 and "评分未提交" in stepped.text

    task = next(a for a in await store.assignments(deps.db, comp.id) if a["entry"] == ids[0])
    jc = await client()
    assert (await jc.login(task["judge"])).status == 303
    form = await jc.get(f"/admin/judging/{comp.id}/{task['blind_code']}")
    assert form.status == 200 and "排查总结" in form.text and entry["name"] not in form.text
    sent = await jc.post(f"/admin/judging/{comp.id}/{task['blind_code']}", {"c1": "7.5", "c2": "8"})
    assert sent.status == 303
    row = await deps.db.comp_scores.find_one({"entry": ids[0], "judge": task["judge"]})
    assert row is not None and row["values"] == {"c1": 7.5, "c2": 8.0}
    assert "已提交" in (await jc.get("/admin/judging")).text


async def test_entrants_register_report_and_appeal_over_the_api(deps: Deps, client: Client) -> None:
    from core.clock import now
    from tests.competitions.helpers import PROVINCE, new_data

    city = await client("reg_city", org=CITY)
    cid = (await city.api("POST", "/api/admin/competitions", new_data())).json["id"]
    await (await client("reg_prov", org=PROVINCE)).api("POST", f"/api/admin/competitions/{cid}/actions/approve")
    county = await client("reg_county", org="370102", role="editor")
    opened = await county.api("GET", "/api/admin/competitions")
    assert [c["_id"] for c in opened.json["open_for_registration"]] == [cid]
    reg = await county.api("POST", f"/api/admin/competitions/{cid}/entries", {"org": "370102001001", "name": "一班"})
    assert reg.status == 201
    eid = reg.json["id"]
    own = await county.api("POST", f"/api/admin/competition-entries/{eid}/review", {"approve": True})
    assert own.status == 200  # the county is above the enterprise: its own union level approves
    await deps.db.competitions.update_one({"_id": cid}, {"$set": {"registration_deadline": now()}})
    late = await county.api("POST", f"/api/admin/competitions/{cid}/entries", {"org": "370102", "name": "区队"})
    assert late.status == 409 and late.json == {"code": "registration_closed", "message": "报名已截止，不能再报名"}

    assert (await city.api("POST", f"/api/admin/competitions/{cid}/actions/start_stages")).status == 200
    body = {"text": "总结", "figures": {"隐患排查数": 4, "整改率": 2}, "media_ids": ["bad id!"]}
    bad = await county.api("POST", f"/api/admin/competition-entries/{eid}/reports/s1", body)
    assert bad.status == 400 and "素材编号" in bad.json["message"]
    body["media_ids"] = ["MEDIA_1"]
    assert (await county.api("POST", f"/api/admin/competition-entries/{eid}/reports/s1", body)).status == 201
    review = await city.api("POST", f"/api/admin/competition-entries/{eid}/reports/s1/review", {"accept": True})
    assert review.status == 200 and review.json["status"] == "accepted"

    # straight to 公示 that has already ended: the appeal is refused with the rule's words
    await deps.db.competitions.update_one({"_id": cid}, {"$set": {"status": "publicity", "publicity_ends_at": now()}})
    appeal = await county.api("POST", f"/api/admin/competition-entries/{eid}/appeal", {"reasons": "评分有误请复核"})
    assert appeal.status == 409 and appeal.json["message"] == "公示期已结束，不能再申诉"
    garbage = await city.api("POST", f"/api/admin/competition-entries/{eid}/appeal/decision", {"upheld": "yes"})
    assert garbage.status == 400 and "upheld" in garbage.json["message"]
