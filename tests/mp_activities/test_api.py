"""The mini-program endpoints over real HTTP: logins through the fake WeChat, every error a Chinese 4xx."""

from __future__ import annotations

import asyncio
from typing import Any

from core.deps import Deps
from services.activities import checkin
from services.activities import definitions as activity_admin
from services.surveys import definitions as survey_admin
from tests.mp.conftest import MpClient
from tests.mp_activities.conftest import FORM, GOOD_ANSWERS, activity_def, survey_def
from tests.mp_activities.test_checkin import soon


async def province_survey(deps: Deps, **over: Any) -> str:
    """Province-wide: visible to every logged-in worker, bound or not."""
    doc = await survey_admin.create_survey(deps, survey_def(org="370000", **over), editor_org=None)
    await survey_admin.publish_survey(deps, doc["_id"], editor_org=None)
    return str(doc["_id"])


async def province_activity(deps: Deps, data: dict[str, Any]) -> str:
    doc = await activity_admin.create_activity(deps, {**data, "org": "370000"}, editor_org=None)
    await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)
    return str(doc["_id"])


async def test_survey_flow(deps: Deps, mp: MpClient) -> None:
    sid = await province_survey(deps)
    token = await mp.login("o_worker1")
    code, page = await mp.call("GET", "/api/mp/surveys", token=token)
    assert code == 200 and [s["id"] for s in page["items"]] == [sid] and page["items"][0]["can_respond"]
    code, detail = await mp.call("GET", f"/api/mp/surveys/{sid}", token=token)
    assert code == 200 and detail["questions"][1]["show_if"] == {"question": "q1", "any_of": ["yes"]}
    code, draft = await mp.call("PUT", f"/api/mp/surveys/{sid}/draft", {"answers": {"q1": "yes"}}, token=token)
    assert code == 200 and draft["answers"] == {"q1": "yes"}
    code, draft = await mp.call("GET", f"/api/mp/surveys/{sid}/draft", token=token)
    assert code == 200 and draft["answers"] == {"q1": "yes"}
    bad = dict(GOOD_ANSWERS, q2=["a"], q4=0)
    code, err = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", {"answers": bad}, token=token)
    assert code == 400 and err["code"] == "invalid_answers"
    assert err["errors"] == {"q2": "请至少选择 2 项", "q4": "请选择 1 到 5 之间的分值"}
    submit = {"answers": GOOD_ANSWERS, "client_id": "c-1"}
    code, first = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", submit, token=token)
    assert code == 201
    code, again = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", submit, token=token)
    assert code == 200 and again["id"] == first["id"]
    code, err = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", {"answers": GOOD_ANSWERS}, token=token)
    assert code == 409 and err["code"] == "already_submitted" and "每人最多提交 1 次" in err["message"]
    code, mine = await mp.call("GET", f"/api/mp/surveys/{sid}/responses", token=token)
    assert code == 200 and len(mine["items"]) == 1 and mine["remaining"] == 0
    code, draft = await mp.call("GET", f"/api/mp/surveys/{sid}/draft", token=token)
    assert draft["answers"] == {}  # cleared by the submit


async def test_bad_requests_are_chinese_4xx(deps: Deps, mp: MpClient) -> None:
    sid = await province_survey(deps)
    aid = await province_activity(deps, activity_def())
    token = await mp.login("o_worker1")
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", f"/api/mp/surveys/{sid}/responses", "{not json", 400, "invalid_json"),
        ("POST", f"/api/mp/surveys/{sid}/responses", {"answers": {}, "extra": 1}, 400, "invalid_field"),
        ("POST", f"/api/mp/surveys/{sid}/responses", {"answers": "yes"}, 400, "invalid_field"),
        ("POST", f"/api/mp/surveys/{sid}/responses", {}, 400, "invalid_field"),
        ("GET", "/api/mp/surveys/sv-nope", None, 404, "survey_not_found"),
        ("GET", "/api/mp/surveys?limit=500", None, 400, "invalid_field"),
        ("GET", "/api/mp/activities?before=yesterday", None, 400, "invalid_time"),
        ("POST", f"/api/mp/activities/{aid}/signups", {"session_id": 7}, 400, "invalid_field"),
        ("POST", f"/api/mp/activities/{aid}/signups", {"session_id": "s9", "form": FORM}, 404, "session_not_found"),
        (
            "POST",
            f"/api/mp/activities/{aid}/signups",
            {"session_id": "s1", "form": {"size": "xl"}},
            400,
            "invalid_answers",
        ),
        ("POST", "/api/mp/activities/acnope/signups", {"session_id": "s1"}, 404, "activity_not_found"),
        ("POST", f"/api/mp/activities/{aid}/checkin", {"code": "forged.code.0.sig"}, 400, "invalid_checkin_code"),
        ("POST", "/api/mp/signups/whatever/cancel", None, 404, "signup_not_found"),
    ]
    for method, path, body, status, code in cases:
        got, data = await mp.call(method, path, body, token=token)
        assert (got, data["code"]) == (status, code), (method, path, data)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in data["message"]), data
    got, data = await mp.call("GET", "/api/mp/signups")
    assert got == 401 and data["message"] == "请先登录"


async def test_sign_up_waitlist_cancel_and_check_in(deps: Deps, mp: MpClient) -> None:
    aid = await province_activity(deps, soon(capacity=1))
    alice, bob = await mp.login("o_alice"), await mp.login("o_bob")
    path = f"/api/mp/activities/{aid}/signups"
    code, a = await mp.call("POST", path, {"session_id": "s1", "form": FORM}, token=alice)
    assert code == 201 and a["status"] == "confirmed" and a["session"]["place"] == "工人文化宫"
    code, again = await mp.call("POST", path, {"session_id": "s1", "form": FORM}, token=alice)
    assert code == 200 and again["id"] == a["id"]
    code, b = await mp.call("POST", path, {"session_id": "s1", "form": FORM}, token=bob)
    assert code == 201 and b["status"] == "waitlisted" and b["position"] == 1  # full: waitlisted, not an error
    code, err = await mp.call("POST", f"/api/mp/signups/{a['id']}/cancel", token=bob)
    assert code == 403 and err["code"] == "not_your_signup"
    code, detail = await mp.call("GET", f"/api/mp/activities/{aid}", token=bob)
    assert code == 200 and detail["sessions"][0]["waitlisted"] == 1 and detail["my_signups"][0]["position"] == 1
    code, cancelled = await mp.call("POST", f"/api/mp/signups/{a['id']}/cancel", token=alice)
    assert code == 200 and cancelled["status"] == "cancelled"
    code, mine = await mp.call("GET", "/api/mp/signups", token=bob)
    assert code == 200 and mine["items"][0]["status"] == "confirmed"  # promoted
    venue = checkin.checkin_code(deps, aid, "s1")
    code, done = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": venue}, token=bob)
    assert code == 200 and done["status"] == "checked_in"
    code, done = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": venue}, token=bob)
    assert code == 200 and done["status"] == "already_checked_in"
    code, err = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": venue}, token=alice)
    assert code == 409 and err["code"] == "not_signed_up"


async def test_200_users_over_http_race_for_the_last_10_places(deps: Deps, mp: MpClient) -> None:
    aid = await province_activity(deps, activity_def(capacity=30))
    path = f"/api/mp/activities/{aid}/signups"
    body = {"session_id": "s1", "form": FORM}
    early = await asyncio.gather(*(mp.login(f"o_early{i}") for i in range(20)))
    for token in early:
        assert (await mp.call("POST", path, body, token=token))[0] == 201
    racers = await asyncio.gather(*(mp.login(f"o_racer{i}") for i in range(200)))
    results = await asyncio.gather(*(mp.call("POST", path, body, token=t) for t in racers))
    assert {code for code, _ in results} == {201}
    statuses = [r["status"] for _, r in results]
    assert statuses.count("confirmed") == 10 and statuses.count("waitlisted") == 190
    positions = sorted((r["position"], int(r["id"].rsplit("-", 1)[1])) for _, r in results if r["position"])
    assert [p for p, _ in positions] == list(range(1, 191))
    assert [s for _, s in positions] == sorted(s for _, s in positions)  # position order = arrival order
    code, detail = await mp.call("GET", f"/api/mp/activities/{aid}", token=racers[0])
    assert detail["sessions"][0]["confirmed"] == 30 and detail["sessions"][0]["waitlisted"] == 190
