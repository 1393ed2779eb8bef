"""Staff claim and answer cases in the console; answers reach the worker within WeChat's rules and stay on the page."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.deps import Deps
from services.consultation import store
from services.followers.live import seen_key

CITY_DESK = {"_id": "370100-legal", "org": "370100", "org_path": ["370000", "370100"], "name": "济南市职工法律援助中心",
             "categories": []}  # fmt: skip


async def _case(deps: Deps, worker: Any, name: str, category: str = "wage", text: str = "公司拖欠三个月工资") -> Any:
    await store.put_desk(deps.db, dict(CITY_DESK))
    w = await worker(name)
    status, case = await w.open(category, text)
    assert status == 201, case
    return w, case["id"]


async def test_only_staff_of_the_desks_org_can_claim_and_only_once(deps: Deps, worker: Any, client: Any) -> None:
    _, case_id = await _case(deps, worker, "a1")
    qingdao = await client("qd_staff", org="370200", role="editor")
    resp = await qingdao.api("POST", f"/api/admin/consult/cases/{case_id}/claim")
    assert resp.status == 403 and resp.json["code"] == "not_desk_staff"
    assert "不属于该咨询台所在的工会" in resp.json["message"]
    jinan1 = await client("jn_one", org="370100", role="editor")
    jinan2 = await client("jn_two", org="370100", role="editor")
    first, second = await asyncio.gather(
        jinan1.api("POST", f"/api/admin/consult/cases/{case_id}/claim"),
        jinan2.api("POST", f"/api/admin/consult/cases/{case_id}/claim"),
    )
    assert sorted([first.status, second.status]) == [200, 409]
    loser = second if second.status == 409 else first
    assert "已由" in loser.json["message"] and "认领" in loser.json["message"]
    queue = await qingdao.api("GET", "/api/admin/consult/queue")
    assert queue.status == 200 and queue.json["items"] == []
    entries = await deps.db.audit_log.count_documents({"target_type": "consult_case", "action": "claim"})
    assert entries == 1


async def test_answer_inside_the_window_is_a_customer_service_message(deps: Deps, worker: Any, client: Any) -> None:
    w, case_id = await _case(deps, worker, "b1")
    await deps.redis.hset(
        seen_key(w.oa_openid), w.oa_openid, str(time.time() - 3600)
    )  # wrote to the account an hour ago
    w.mp.fake.state.touch(w.oa_openid, time.time() - 3600)
    staff = await client("jn_b1", org="370100", role="editor")
    assert (await staff.api("POST", f"/api/admin/consult/cases/{case_id}/claim")).status == 200
    answer = "根据《劳动合同法》第三十条，用人单位应当按时足额支付劳动报酬。" * 30  # longer than one message
    resp = await staff.api("POST", f"/api/admin/consult/cases/{case_id}/act", {"action": "reply", "text": answer})
    assert resp.status == 200, resp.text
    assert resp.json["delivery"]["channel"] == "cs"
    sent = [c for c in w.mp.fake.state.log.calls("cgi-bin/message/custom/send") if c.body["touser"] == w.oa_openid]
    assert len(sent) == 1 and "查看咨询详情" in sent[0].body["text"]["content"]
    assert f"pages/cases/detail?id={case_id}" in sent[0].body["text"]["content"]
    status, page = await w.call("GET", f"/api/mp/cases/{case_id}")
    assert page["state"] == "replied" and page["messages"][-1]["text"] == answer  # the full answer


async def test_answers_outside_the_window_or_past_five_go_out_as_notices(deps: Deps, worker: Any, client: Any) -> None:
    w, case_id = await _case(deps, worker, "c1")
    staff = await client("jn_c1", org="370100", role="editor")
    await staff.api("POST", f"/api/admin/consult/cases/{case_id}/claim")
    resp = await staff.api(
        "POST", f"/api/admin/consult/cases/{case_id}/act", {"action": "reply", "text": "您好，请携带劳动合同来"}
    )
    assert resp.json["delivery"]["channel"] == "template"  # never wrote to the account: no window
    tpl = w.mp.fake.state.log.calls("cgi-bin/message/template/send")
    assert tpl[-1].body["miniprogram"]["pagepath"] == f"pages/cases/detail?id={case_id}"
    # Now inside a window: five customer-service messages, then notices again.
    await deps.redis.hset(seen_key(w.oa_openid), w.oa_openid, str(time.time() - 60))
    w.mp.fake.state.touch(w.oa_openid, time.time() - 60)
    channels = []
    for i in range(6):
        r = await staff.api(
            "POST", f"/api/admin/consult/cases/{case_id}/act", {"action": "reply", "text": f"补充答复 {i}"}
        )
        channels.append(r.json["delivery"]["channel"])
    assert channels == ["cs"] * 5 + ["template"]
    status, page = await w.call("GET", f"/api/mp/cases/{case_id}")
    staff_texts = [m["text"] for m in page["messages"] if m["from"] == "staff"]
    assert staff_texts == ["您好，请携带劳动合同来", *[f"补充答复 {i}" for i in range(6)]]
    doc = await store.get_case(deps.db, case_id)
    assert doc is not None
    assert all(e.get("delivery", {}).get("channel") for e in doc["events"] if e["kind"] == "reply")
    assert not doc.get("undelivered")  # every answer's outcome recorded: nothing left for the recovery job


async def test_without_any_channel_the_answer_waits_on_the_case_page(deps: Deps, worker: Any, client: Any) -> None:
    await store.put_desk(deps.db, dict(CITY_DESK))
    w = await worker("d1", follower=False)
    _, case = await w.open("contract", "单位不签劳动合同")
    staff = await client("jn_d1", org="370100", role="editor")
    await staff.api("POST", f"/api/admin/consult/cases/{case['id']}/claim")
    r = await staff.api(
        "POST", f"/api/admin/consult/cases/{case['id']}/act", {"action": "reply", "text": "可以要求双倍工资"}
    )
    assert r.json["delivery"]["channel"] == "page" and "subscribe:43101" in r.json["delivery"]["tried"]
    w.mp.fake.state.grant_consent(w.openid, "TPL_CASE_NOTICE")
    r = await staff.api("POST", f"/api/admin/consult/cases/{case['id']}/act", {"action": "reply", "text": "再补充一点"})
    assert r.json["delivery"]["channel"] == "subscribe"
    _, page = await w.call("GET", f"/api/mp/cases/{case['id']}")
    assert [m["text"] for m in page["messages"] if m["from"] == "staff"] == ["可以要求双倍工资", "再补充一点"]


async def test_only_the_assignee_answers_and_id_numbers_are_masked(deps: Deps, worker: Any, client: Any) -> None:
    w, case_id = await _case(deps, worker, "e1", "injury", "我的身份证号 370102199001011234，工伤认定被拒")
    owner = await client("jn_e1", org="370100", role="editor")
    other = await client("jn_e2", org="370100", role="editor")
    queue = await owner.get("/admin/consult")
    assert queue.status == 200 and case_id in queue.text and "剩余" in queue.text
    assert "370102199001011234" not in queue.text
    claimed = await owner.post(f"/admin/consult/cases/{case_id}", {"action": "claim"})  # the page's form
    assert claimed.status == 303
    again = await other.post(f"/admin/consult/cases/{case_id}", {"action": "claim"})
    assert again.status == 409 and "已由 jn_e1 认领" in again.text
    r = await other.api("POST", f"/api/admin/consult/cases/{case_id}/act", {"action": "reply", "text": "我来答"})
    assert r.status == 403 and r.json["code"] == "not_assignee"
    answered = await owner.post(f"/admin/consult/cases/{case_id}", {"action": "reply", "text": "请先申请工伤认定复议"})
    assert answered.status == 303
    view = await owner.api("GET", f"/api/admin/consult/cases/{case_id}")
    assert [e["kind"] for e in view.json["events"]] == ["opened", "claimed", "reply"]
    assert "370102199001011234" not in view.text and "370102***********4" in view.json["text"]
    page = await owner.get(f"/admin/consult/cases/{case_id}")
    assert page.status == 200 and "370102199001011234" not in page.text and "认领人" in page.text
    _, mine = await w.call("GET", f"/api/mp/cases/{case_id}")
    assert "370102199001011234" in mine["text"]  # the worker sees what they wrote


async def test_waiting_resolving_reopening(deps: Deps, worker: Any, client: Any) -> None:
    w, case_id = await _case(deps, worker, "f1", "insurance", "社保断缴了怎么办")
    staff = await client("jn_f1", org="370100", role="editor")
    await staff.api("POST", f"/api/admin/consult/cases/{case_id}/claim")
    note = {"action": "wait", "text": "已电话联系职工，等其找到缴费记录"}
    r = await staff.api("POST", f"/api/admin/consult/cases/{case_id}/act", note)
    assert r.json["case"]["timer"]["paused"] is True and r.json["delivery"] is None  # an internal note
    _, page = await w.call("GET", f"/api/mp/cases/{case_id}")
    assert page["state"] == "waiting_worker" and all("电话" not in m["text"] for m in page["messages"])
    ask = {"action": "ask", "text": "请上传社保缴费记录"}
    r = await staff.api("POST", f"/api/admin/consult/cases/{case_id}/act", ask)
    assert r.json["case"]["state"] == "waiting_worker" and r.json["case"]["timer"]["running"] is False
    more = {"text": "已上传缴费记录截图", "attachments": ["m1"]}
    for _ in range(2):  # a retry after a timeout, same key: recorded once
        status, page = await w.call("POST", f"/api/mp/cases/{case_id}/messages", more, {"Idempotency-Key": "msg-0001"})
        assert status == 200 and page["state"] == "assigned"
    assert [m["text"] for m in page["messages"]].count("已上传缴费记录截图") == 1
    r = await staff.api("POST", f"/api/admin/consult/cases/{case_id}/act", {"action": "resolved", "text": "已协调补缴"})
    assert r.json["case"]["state"] == "resolved"
    status, err = await w.call("POST", f"/api/mp/cases/{case_id}/messages", {"text": "谢谢，还有问题"})
    assert status == 409 and "重新打开" in err["message"]
    _, other = await w.open("insurance", "另一个社保问题")  # the category is free again
    status, err = await w.call("POST", f"/api/mp/cases/{case_id}/reopen", {"text": "补缴又停了"})
    assert status == 409 and err["code"] == "case_open"
    await deps.db.consult_cases.delete_one({"_id": other["id"]})
    status, page = await w.call("POST", f"/api/mp/cases/{case_id}/reopen", {"text": "补缴又停了"})
    assert status == 200 and page["state"] == "queued"
