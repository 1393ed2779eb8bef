"""Editors configure desks and calendars (audited, in their subtree); anonymity, held text, leaving the account."""

from __future__ import annotations

from typing import Any

from core.deps import Deps
from services.consultation import store
from tests.consultation.conftest import JINAN_FIRM


async def test_desks_and_calendars_are_edited_in_scope_and_audited(deps: Deps, client: Any) -> None:
    city = await client("jn_admin", org="370100", role="admin")
    r = await city.api("PUT", "/api/admin/consult/desks", {"name": "济南市职工法律援助中心", "categories": ["wage"]})
    assert r.status == 200 and r.json["_id"] == "370100-legal" and r.json["org_path"] == ["370000", "370100"]
    r = await city.api("PUT", "/api/admin/consult/desks", {"name": "青岛", "org": "370200"})
    assert r.status == 404  # another city's org does not exist for this editor
    r = await city.api("PUT", "/api/admin/consult/desks", {"name": "x", "categories": ["lottery"]})
    assert r.status == 400 and "名称" in r.json["message"]
    r = await city.api("GET", "/api/admin/consult/calendars/370102")
    assert r.json["from_org"] == "370000" and r.json["own"] is False and r.json["day_minutes"] == 450
    bad = await city.api("PUT", "/api/admin/consult/calendars/370100", {"hours": "13:00-12:00", "weekdays": [0]})
    assert bad.status == 400 and "工作时间" in bad.json["message"]
    body = {"hours": "09:00-12:00, 13:00-17:00", "weekdays": [0, 1, 2, 3, 4], "holidays": "2026-10-01, 2026-10-02"}
    assert (await city.api("PUT", "/api/admin/consult/calendars/370100", body)).status == 200
    r = await city.api("GET", "/api/admin/consult/calendars/370102")  # the county inherits the city's now
    assert r.json["from_org"] == "370100" and r.json["day_minutes"] == 420
    assert r.json["holidays"] == ["2026-10-01", "2026-10-02"]
    assert (await city.api("PUT", "/api/admin/consult/calendars/370000", body)).status == 404
    assert (await city.api("DELETE", "/api/admin/consult/calendars/370100")).status == 200
    r = await city.api("GET", "/api/admin/consult/calendars/370102")
    assert r.json["from_org"] == "370000"
    logged = [d["target_type"] async for d in deps.db.audit_log.find({"target_type": {"$regex": "^consult_"}})]
    assert logged.count("consult_desk") == 1 and logged.count("consult_calendar") == 2
    page = await city.get("/admin/consult/desks")
    assert page.status == 200 and "济南市职工法律援助中心" in page.text
    viewer = await client("jn_viewer", org="370100", role="viewer")
    assert (await viewer.api("PUT", "/api/admin/consult/desks", {"name": "只读账号"})).status == 403


async def test_anonymous_cases_skip_the_workers_own_union(deps: Deps, worker: Any, client: Any) -> None:
    firm = JINAN_FIRM[-1]
    await store.put_desk(deps.db, {"_id": f"{firm}-legal", "org": firm, "org_path": JINAN_FIRM, "name": "企业工会",
                                   "categories": []})  # fmt: skip
    w = await worker("anon")
    _, named = await w.open("wage", "企业拖欠工资，不怕企业知道")
    _, hidden = await w.open("contract", "企业逼我签自愿离职，不想让企业工会知道", anonymous=True)
    assert (await store.get_case(deps.db, named["id"]) or {})["desk"] == f"{firm}-legal"
    assert (await store.get_case(deps.db, hidden["id"]) or {})["desk"] == "370000-legal"
    firm_staff = await client("firm_staff", org=firm, role="editor")
    queue = await firm_staff.api("GET", "/api/admin/consult/queue")
    assert [c["id"] for c in queue.json["items"]] == [named["id"]]
    assert (await firm_staff.api("GET", f"/api/admin/consult/cases/{hidden['id']}")).status == 404
    province = await client("prov_staff", org="370000", role="editor")
    view = await province.api("GET", f"/api/admin/consult/cases/{hidden['id']}")
    assert view.status == 200 and view.json["who"] == "匿名职工"


async def test_held_text_is_released_by_a_person(deps: Deps, worker: Any, client: Any) -> None:
    w = await worker("held")
    _, case = await w.open("wage", "拿不到工资只能去上访了")
    staff = await client("prov_rev", org="370000", role="editor")
    queue = await staff.api("GET", "/api/admin/consult/queue")
    assert [c["held"] for c in queue.json["items"]] == [True]
    r = await staff.api("POST", f"/api/admin/consult/cases/{case['id']}/release")
    assert r.status == 200 and r.json["held"] is False
    assert await deps.db.audit_log.count_documents({"target_type": "consult_case", "action": "review"}) == 1


async def test_leaving_the_account_drops_its_openid_from_cases(deps: Deps, worker: Any, app_server: str) -> None:
    from tests.conftest import AES_KEY, OA_APP_ID, TOKEN
    from tools.fake_wechat import WeChatSimulator

    w = await worker("leaver")
    _, case = await w.open("other", "想咨询一下带薪年假")
    sim = WeChatSimulator(
        f"{app_server}/wechat", TOKEN, OA_APP_ID, AES_KEY, "plain", "xml", "gh_x", fake=w.mp.fake.state
    )
    r = await sim.send(sim.event(w.oa_openid, "unsubscribe"))
    assert r.status == 200
    doc = await store.get_case(deps.db, case["id"])
    assert doc is not None and doc["oa_openid"] == "" and doc["text"] == "想咨询一下带薪年假"
    sim.close()
