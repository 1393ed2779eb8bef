"""Workers open consultation cases in the mini-program; the limits hold under retries and concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

from core.deps import Deps
from services.consultation import store
from tests.consultation.conftest import JINAN_COUNTY


async def test_a_case_is_registered_routed_and_listed(deps: Deps, worker: Any) -> None:
    w = await worker("zhang")
    status, case = await w.open("wage", "公司已经三个月没有发工资了，怎么办？", attachments=["media_contract_1"])
    assert status == 201, case
    assert case["state"] == "queued" and case["category_name"] == "欠薪" and case["attachments"] == ["media_contract_1"]
    assert case["page"] == f"pages/cases/detail?id={case['id']}"
    status, mine = await w.call("GET", "/api/mp/cases")
    assert status == 200 and [c["id"] for c in mine["items"]] == [case["id"]] and mine["next_cursor"] is None
    status, page = await w.call("GET", f"/api/mp/cases/{case['id']}")
    assert status == 200 and page["text"] == "公司已经三个月没有发工资了，怎么办？" and page["can_write"]
    # No desk configured below the province: the province's desk takes it.
    doc = await store.get_case(deps.db, case["id"])
    assert doc is not None and doc["desk"] == "370000-legal"
    other = await worker("li")
    status, _ = await other.call("GET", f"/api/mp/cases/{case['id']}")
    assert status == 404
    # Bad input: a clear Chinese 400, nothing registered.
    status, body = await other.open("lottery")
    assert status == 400 and "咨询类别" in body["message"]
    assert (await other.open("wage", "短"))[0] == 400
    assert (await other.open("wage", attachments=["../etc/passwd"]))[0] == 400
    assert await deps.db.consult_cases.count_documents({}) == 1


async def test_routing_picks_the_nearest_desk_taking_the_category(deps: Deps, worker: Any) -> None:
    await store.put_desk(deps.db, {"_id": "370102-legal", "org": "370102", "org_path": JINAN_COUNTY,
                                   "name": "历下区法律援助站", "categories": ["wage", "injury"]})  # fmt: skip
    await store.put_desk(deps.db, {"_id": "370100-legal", "org": "370100", "org_path": ["370000", "370100"],
                                   "name": "济南市职工法律援助中心", "categories": []})  # fmt: skip
    w = await worker("wang")
    _, wage = await w.open("wage")
    _, insurance = await w.open("insurance", "单位一直没有给我交社保")
    assert (await store.get_case(deps.db, wage["id"]) or {})["desk"] == "370102-legal"
    assert (await store.get_case(deps.db, insurance["id"]) or {})["desk"] == "370100-legal"


async def test_second_open_case_of_a_category_is_409_and_a_sixth_case_a_day_is_429(deps: Deps, worker: Any) -> None:
    w = await worker("zhao")
    status, first = await w.open("wage")
    assert status == 201
    status, again = await w.open("wage", "还是工资的问题，再问一次")
    assert status == 409 and again["code"] == "case_open"
    assert "已有一个正在处理的“欠薪”咨询" in again["message"] and first["id"] in again["message"]
    for category in ("injury", "contract", "insurance", "other"):
        status, body = await w.open(category, f"关于{category}的问题描述")
        assert status == 201, body
    # Five today. Even once a category is free again, a sixth new case today is refused.
    await deps.db.consult_cases.update_one({"_id": first["id"]}, {"$set": {"state": "resolved"},
                                                                  "$unset": {"open_slot": ""}})  # fmt: skip
    status, sixth = await w.open("wage", "新的欠薪问题，另一家单位")
    assert status == 429 and sixth["code"] == "daily_limit" and "每天最多提交 5 个咨询" in sixth["message"]


async def test_a_refused_duplicate_does_not_use_up_the_daily_limit(worker: Any) -> None:
    w = await worker("qian")
    assert (await w.open("wage"))[0] == 201
    for _ in range(6):
        assert (await w.open("wage"))[0] == 409
    for category in ("injury", "contract", "insurance", "other"):
        assert (await w.open(category, "另一个问题的描述"))[0] == 201


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_case(deps: Deps, worker: Any) -> None:
    w = await worker("sun")
    headers = {"Idempotency-Key": "open-case-0001"}
    body = {"category": "contract", "text": "单位要求我签空白合同"}
    results = await asyncio.gather(*[w.call("POST", "/api/mp/cases", body, headers) for _ in range(5)])
    ids = {r[1]["id"] for r in results if r[0] == 201}
    assert len(ids) == 1 and all(r[0] in (201, 409) for r in results), results
    again = await w.call("POST", "/api/mp/cases", body, headers)
    assert again[0] == 201 and again[1]["id"] in ids
    assert await deps.db.consult_cases.count_documents({}) == 1


async def test_concurrent_opens_make_one_case(deps: Deps, worker: Any) -> None:
    w = await worker("zhou")
    results = await asyncio.gather(*[w.open("injury", f"工伤认定怎么申请 {i}") for i in range(12)])
    codes = sorted(r[0] for r in results)
    # One case; the others are refused (409, or 429 while other attempts still hold a daily slot).
    assert codes[0] == 201 and set(codes[1:]) <= {409, 429}, codes
    assert await deps.db.consult_cases.count_documents({"category": "injury"}) == 1
    # The refused attempts gave their daily slots back: four more categories still fit today.
    for category in ("wage", "contract", "insurance", "other"):
        assert (await w.open(category, "另一个问题的描述"))[0] == 201


async def test_content_check_refuses_risky_text_and_holds_doubtful_text_for_a_person(deps: Deps, worker: Any) -> None:
    w = await worker("zheng")
    status, body = await w.open("other", "有人找我参与赌博讨薪")
    assert status == 400 and body["code"] == "content_risky" and "请修改后再提交" in body["message"]
    status, case = await w.open("wage", "老板不给工资，我们准备去上访")
    assert status == 201  # "review": kept, never dropped
    doc = await store.get_case(deps.db, case["id"])
    assert doc is not None and doc["held"] is True and doc["check"]["suggest"] == "review"
    status, body = await w.call("POST", f"/api/mp/cases/{case['id']}/messages", {"text": "还有人让我去赌博"})
    assert status == 400 and body["code"] == "content_risky"
    calls = [c for c in w.mp.fake.state.log.records if c.path == "wxa/msg_sec_check"]
    assert calls and all(c.body.get("version") == 2 and c.body.get("openid") == w.openid for c in calls)


async def test_binding_membership_later_keeps_the_workers_cases(deps: Deps, worker: Any) -> None:
    w = await worker("later", member=False)
    _, case = await w.open("other", "还没绑定会员时提的问题")
    doc = await store.get_case(deps.db, case["id"])
    assert doc is not None and doc["person"] == "u:un_later" and doc["desk"] == "370000-legal"
    await deps.db.mini_users.update_one({"_id": w.openid}, {"$set": {"member_id": "Mlater", "org": "370100",
                                                                     "org_path": ["370000", "370100"]}})  # fmt: skip
    w.token = await w.mp.login(w.openid, "un_later")  # the next login carries the binding
    status, page = await w.call("GET", f"/api/mp/cases/{case['id']}")
    assert status == 200 and page["text"] == "还没绑定会员时提的问题"
    _, mine = await w.call("GET", "/api/mp/cases")
    assert [c["id"] for c in mine["items"]] == [case["id"]]


async def test_crisis_words_in_a_case_show_the_hotlines_at_once_and_alert_the_counsellor(
    deps: Deps, worker: Any
) -> None:
    w = await worker("crisis")
    status, case = await w.open("other", "工资被拖欠半年，我真的不想活了，不知道该怎么办")
    assert status == 201 and "12356" in case["crisis_help"] and "110" in case["crisis_help"]
    assert await deps.db.counselling_alerts.count_documents({}) == 1  # the on-duty counsellor's queue
    status, calm = await (await worker("calm")).open("wage", "公司已经三个月没有发工资了，怎么办？")
    assert status == 201 and calm["crisis_help"] is None
