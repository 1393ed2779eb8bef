"""Surveys and activities in the console: create, publish, results/sign-ups, exports, scope."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook

from core.clock import now
from core.deps import Deps
from services.activities import definitions as activity_admin
from services.activities import signups
from services.members.sessions import CurrentUser
from services.surveys import answering as surveys
from services.surveys import definitions as survey_admin
from tests.console.conftest import CITY_A, CITY_B, Client, ConsoleClient, audit_count

QUESTIONS = [
    {
        "id": "q1",
        "type": "single",
        "title": "您的年龄段",
        "required": True,
        "options": [{"id": "a", "label": "30岁以下"}, {"id": "b", "label": "30岁及以上"}],
    },
    {"id": "q2", "type": "text", "title": "您的建议", "required": False, "max_length": 200},
    {"id": "q3", "type": "rating", "title": "满意度", "required": True, "scale_min": 1, "scale_max": 5},
]


def t(days: float) -> str:
    return (now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


async def get_bytes(c: ConsoleClient, path: str) -> tuple[int, bytes, Any]:
    async with c.http.get(c.base + path, allow_redirects=False) as r:
        return r.status, await r.read(), r.headers


async def test_survey_build_publish_answer_results_export(client: Client, deps: Deps) -> None:
    c = await client("jn_surveys", org=CITY_A, role="editor")
    form = {
        "title": "职工满意度调查",
        "description": "请如实填写",
        "opens_at": t(-1),
        "closes_at": t(7),
        "max_responses_per_user": "1",
        "questions": json.dumps(QUESTIONS, ensure_ascii=False),
        "form_key": "surveyform01",
    }
    resp = await c.post("/admin/surveys/new", form)
    assert resp.status == 303, resp.text[:2000]
    assert (await c.post("/admin/surveys/new", form)).location == resp.location  # a double submit
    survey_id = resp.location.rsplit("/", 1)[1]
    assert (await c.post(resp.location, {"action": "publish"})).status == 303
    for i, (age, text) in enumerate([("a", '=HYPERLINK("http://x")'), ("a", "多组织活动"), ("b", "")]):
        user = CurrentUser(openid=f"o_sv_{i}", member_id=f"M{i}", org=CITY_A, org_path=("370000", CITY_A))
        answers: dict[str, Any] = {"q1": age, "q3": 4 + (i % 2)}
        if text:
            answers["q2"] = text
        await surveys.submit(deps, user, survey_id, answers)
    page = await c.get(resp.location + "?fresh=1")
    assert page.status == 200 and "30岁以下" in page.text and "<svg" in page.text and "多组织活动" in page.text
    status, body, headers = await get_bytes(c, resp.location + "/responses.csv")
    assert status == 200 and body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "提交时间", "会员编号", "所属工会"] and len(rows) == 4
    assert rows[1][4] == "30岁以下" and rows[1][5].startswith("'=")  # no formula injection
    status, body, _ = await get_bytes(c, resp.location + "/results.xlsx")
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["统计", "答卷明细"]
    stats = [[cell.value for cell in row] for row in book["统计"].iter_rows()]
    assert stats[0] == ["题号", "题目", "题型", "选项", "人数", "占比"]
    assert [1, "您的年龄段", "单选题", "30岁以下", 2, "66.7%"] in stats
    assert book["答卷明细"].max_row == 4
    assert (
        await deps.db.audit_log.count_documents(
            {"target_id": survey_id, "action": {"$in": ["survey.create", "survey.publish"]}}
        )
        == 2
    )


async def test_survey_errors_are_per_question(client: Client, deps: Deps) -> None:
    c = await client("jn_surveys2", org=CITY_A, role="editor")
    bad = [{"id": "q1", "type": "single", "title": "只有一个选项", "options": [{"id": "a", "label": "是"}]}]
    resp = await c.post(
        "/admin/surveys/new",
        {"title": "坏问卷", "opens_at": t(0), "closes_at": t(-1), "questions": json.dumps(bad, ensure_ascii=False)},
    )
    assert resp.status == 400 and "至少需要 2 个选项" in resp.text and 'data-error-for="closes_at"' in resp.text
    assert 'value="坏问卷"' in resp.text
    resp = await c.post("/admin/surveys/new", {"title": "x", "opens_at": t(0), "closes_at": t(1), "questions": "[{"})
    assert resp.status == 400 and "JSON 格式不正确" in resp.text
    assert await deps.db.surveys.count_documents({}) == 0


async def _activity(deps: Deps, org: str, publish: bool = True) -> dict[str, Any]:
    data = {
        "org": org,
        "title": f"{org}健步走",
        "signup_deadline": now() + timedelta(days=2),
        "sessions": [
            {
                "id": "s1",
                "title": "上午场",
                "starts_at": now() + timedelta(days=3),
                "ends_at": now() + timedelta(days=3, hours=2),
                "capacity": 2,
            }
        ],
        "form": [
            {
                "id": "size",
                "type": "single",
                "title": "衣服尺码",
                "required": True,
                "options": [{"id": "m", "label": "M"}, {"id": "l", "label": "L"}],
            }
        ],
    }
    doc = await activity_admin.create_activity(deps, data, editor_org=None)
    if publish:
        doc = await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)
    return doc


async def test_activity_create_signups_export(client: Client, deps: Deps) -> None:
    c = await client("jn_acts", org=CITY_A, role="editor")
    form = {
        "title": "职工健步走",
        "place": "泉城广场",
        "signup_deadline": t(2),
        "s1_title": "上午场",
        "s1_starts_at": t(3),
        "s1_ends_at": t(3.1),
        "s1_capacity": "2",
        "s2_title": "下午场",
        "s2_starts_at": t(3.2),
        "s2_ends_at": t(3.3),
        "s2_capacity": "50",
        "per_user_limit": "1",
        "waitlist_enabled": "1",
        "form": json.dumps(
            [
                {
                    "id": "size",
                    "type": "single",
                    "title": "衣服尺码",
                    "required": True,
                    "options": [{"id": "m", "label": "M"}, {"id": "l", "label": "L"}],
                }
            ],
            ensure_ascii=False,
        ),
        "form_key": "activityform1",
    }
    resp = await c.post("/admin/activities/new", form)
    assert resp.status == 303, resp.text[:3000]
    aid = resp.location.rsplit("/", 1)[1]
    assert (await c.post(resp.location, {"action": "publish"})).status == 303
    await deps.db.members.insert_one(
        {"_id": "M001", "name": "张三", "phone": "13800138000", "org": CITY_A, "org_path": ["370000", CITY_A]}
    )
    for i in range(3):
        user = CurrentUser(
            openid=f"o_act_{i}", member_id="M001" if i == 0 else f"M10{i}", org=CITY_A, org_path=("370000", CITY_A)
        )
        await signups.sign_up(deps, user, aid, "s1", {"size": "m" if i else "l"})
    page = await c.get(resp.location)
    assert page.status == 200 and "张三" in page.text and "候补" in page.text
    api = await c.api("GET", f"/api/admin/activities/{aid}")
    assert api.json["numbers"]["s1"] == {"confirmed": 2, "waitlisted": 1}
    status, body, headers = await get_bytes(c, resp.location + "/signups.csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["序号", "场次", "状态", "姓名", "手机号"] and rows[0][-1] == "衣服尺码"
    assert rows[1][1:5] == ["上午场", "报名成功", "张三", "13800138000"] and rows[1][-1] == "L"
    assert [r[2] for r in rows[1:]] == ["报名成功", "报名成功", "候补"]
    status, body, _ = await get_bytes(c, resp.location + "/signups.xlsx")
    assert load_workbook(io.BytesIO(body))["报名名单"].max_row == 4


async def test_activity_form_errors_point_at_the_session(client: Client, deps: Deps) -> None:
    c = await client("jn_acts2", org=CITY_A, role="editor")
    form = {
        "title": "坏活动",
        "signup_deadline": t(2),
        "s1_title": "上午场",
        "s1_starts_at": t(3),
        "s1_ends_at": t(2.5),
        "s1_capacity": "10",
    }
    resp = await c.post("/admin/activities/new", form)
    assert resp.status == 400 and "结束时间应晚于开始时间" in resp.text and 'data-error-for="s1"' in resp.text
    assert await deps.db.activities.count_documents({}) == 0


async def test_city_editor_cannot_reach_other_surveys_and_activities(client: Client, deps: Deps) -> None:
    sv_b = await survey_admin.create_survey(
        deps,
        {"org": CITY_B, "title": "青岛问卷", "opens_at": t(-1), "closes_at": t(3), "questions": QUESTIONS},
        editor_org=None,
    )
    sv_p = await survey_admin.create_survey(
        deps,
        {"org": "370000", "title": "全省问卷", "opens_at": t(-1), "closes_at": t(3), "questions": QUESTIONS},
        editor_org=None,
    )
    ac_b, ac_p = await _activity(deps, CITY_B), await _activity(deps, "370000")
    c = await client("jn_scope", org=CITY_A, role="editor")
    before = await audit_count(deps)
    snapshot = (await deps.db.surveys.find({}).to_list(), await deps.db.activities.find({}).to_list())
    for sv in (sv_b, sv_p):
        base = f"/admin/surveys/{sv['_id']}"
        for path in (base, base + "/results.csv", base + "/responses.xlsx"):
            assert (await c.get(path)).status in (403, 404), path
        for action in ("publish", "delete", "edit"):
            assert (await c.post(base, {"action": action, "title": "改"})).status in (403, 404)
        api = f"/api/admin/surveys/{sv['_id']}"
        for method, path, body in (
            ("GET", api, None),
            ("PATCH", api, {"title": "改"}),
            ("DELETE", api, None),
            ("POST", api + "/publish", {}),
            ("GET", api + "/results", None),
        ):
            resp = await c.api(method, path, body)
            assert resp.status in (403, 404) and resp.json["message"], (method, path)
    for ac in (ac_b, ac_p):
        base = f"/admin/activities/{ac['_id']}"
        for path in (base, base + "/signups.csv", base + "/signups.xlsx"):
            assert (await c.get(path)).status in (403, 404), path
        assert (await c.post(base, {"action": "cancel"})).status in (403, 404)
        api = f"/api/admin/activities/{ac['_id']}"
        for method, path, body in (("GET", api, None), ("PATCH", api, {"title": "改"}), ("POST", api + "/cancel", {})):
            assert (await c.api(method, path, body)).status in (403, 404), (method, path)
        resp = await c.api("POST", "/api/admin/qrcodes", {"kind": "checkin", "target": ac["_id"]})
        assert resp.status in (403, 404)
    assert (await c.api("GET", "/api/admin/surveys")).json["items"] == []
    assert (await c.api("GET", "/api/admin/activities")).json["items"] == []
    assert (await deps.db.surveys.find({}).to_list(), await deps.db.activities.find({}).to_list()) == snapshot
    assert await audit_count(deps) == before


async def test_every_change_leaves_one_audit_entry_with_a_readable_summary(client: Client, deps: Deps) -> None:
    c = await client("jn_audit", org=CITY_A, role="editor")
    body = {"org": CITY_A, "title": "职工满意度调查", "opens_at": t(1), "closes_at": t(5), "questions": QUESTIONS}
    first = await c.api("POST", "/api/admin/surveys", body, headers={"Idempotency-Key": "audit-survey-0001"})
    again = await c.api("POST", "/api/admin/surveys", body, headers={"Idempotency-Key": "audit-survey-0001"})
    assert first.status == 201 and again.json["_id"] == first.json["_id"]  # a double submit creates once
    sid = first.json["_id"]
    assert (await c.api("PATCH", f"/api/admin/surveys/{sid}", {"title": "职工满意度调查（第二季）"})).status == 200
    assert (await c.api("DELETE", f"/api/admin/surveys/{sid}")).status == 200

    entries = await deps.db.audit_log.find({"target_id": sid}).sort("_id", 1).to_list()
    assert [(e["action"], e["summary"], e["actor"]) for e in entries] == [
        ("survey.create", "新建问卷“职工满意度调查”", "jn_audit"),
        ("survey.update", "修改问卷“职工满意度调查（第二季）”", "jn_audit"),
        ("survey.delete", "删除问卷“职工满意度调查（第二季）”", "jn_audit"),
    ]
    update, delete = entries[1], entries[2]
    assert (update["before"]["title"], update["after"]["title"]) == ("职工满意度调查", "职工满意度调查（第二季）")
    assert delete["before"]["title"] == "职工满意度调查（第二季）" and delete["after"] is None
    assert all(e["org_path"] == ["370000", CITY_A] for e in entries)
