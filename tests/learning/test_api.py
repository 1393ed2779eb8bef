"""The learning endpoints over HTTP: completion in the earning request, quizzes, credits, certificates."""

from __future__ import annotations

import asyncio
from typing import Any

from core.deps import Deps
from tests.learning.conftest import Clock, published_course
from tests.mp.conftest import MpClient


async def bound_zhang(mp: MpClient) -> str:
    token = await mp.login("o_zhang")
    code, data = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138000"}, token)
    assert code == 200, data
    return token


def right_answers(questions: list[dict[str, Any]]) -> dict[str, Any]:
    return {q["id"]: ["a", "c"] if q["type"] == "multiple" else "a" for q in questions}


async def pass_quiz(mp: MpClient, token: str, base: str) -> dict[str, Any]:
    code, quiz = await mp.call("GET", f"{base}/units/z1/quiz", token=token)
    assert code == 200 and quiz["attempt"] == 1 and len(quiz["questions"]) == 5 and quiz["answers"] is None
    assert all("answer" not in q for q in quiz["questions"])
    body = {"attempt": 1, "answers": right_answers(quiz["questions"])}
    code, res = await mp.call("POST", f"{base}/units/z1/quiz", body, token=token)
    assert code == 200 and res["passed"] and res["score"] == 100, res
    return dict(res)


async def test_the_heartbeat_that_crosses_90_percent_completes_the_course_in_the_same_request(
    deps: Deps, mp: MpClient, roster: None, clock: Clock
) -> None:
    cid = await published_course(deps)
    token = await bound_zhang(mp)
    base = f"/api/mp/learning/courses/{cid}"
    code, page = await mp.call("GET", "/api/mp/learning/courses", token=token)
    assert code == 200 and [c["id"] for c in page["items"]] == [cid] and page["items"][0]["status"] == "new"
    code, read = await mp.call("POST", f"{base}/units/a1/read", token=token)
    assert code == 200 and read == {"unit_done": True, "course_completed": False, "certificate": None}
    assert not (await pass_quiz(mp, token, base))["course_completed"]
    code, home = await mp.call("GET", "/api/mp/learning/mine", token=token)
    assert home["in_progress"] == [{"course_id": cid, "title": "安全生产月必修课", "units_done": 2}]
    code, started = await mp.call("POST", f"{base}/units/v1/start", token=token)
    assert code == 200 and started == {"position": 0, "covered_seconds": 0, "duration_seconds": 120, "unit_done": False}
    pos = 0
    while True:
        clock.advance(15)
        code, beat = await mp.call("POST", f"{base}/units/v1/heartbeat", {"from": pos, "to": pos + 15}, token=token)
        assert code == 200 and beat["counted"], beat
        pos += 15
        if beat["unit_done"]:
            break
        assert beat["certificate"] is None
    assert pos == 120 and beat["covered_seconds"] == 120  # 105 s was short of 90 %, 120 s crossed it
    assert beat["course_completed"] and beat["certificate"].startswith("SDXX")
    # Recorded before the answer left: no job ran in between.
    enrollment = await deps.db.learning_enrollments.find_one({"_id": f"{cid}:o_zhang"})
    assert enrollment["completed_at"] and enrollment["certificate"] == beat["certificate"]
    credit = await deps.db.learning_credits.find_one({"_id": f"{cid}:o_zhang"})
    assert credit["credit_hours"] == 2.5 and credit["member_id"] == "JN0001" and credit["name"] == "张三"
    # A retried heartbeat does not issue a second certificate.
    clock.advance(15)
    code, again = await mp.call("POST", f"{base}/units/v1/heartbeat", {"from": 0, "to": 120}, token=token)
    assert code == 200 and again["unit_done"] and again["certificate"] is None
    assert await deps.db.learning_certificates.count_documents({}) == 1
    code, cert = await mp.call("GET", f"/api/mp/learning/certificates/{beat['certificate']}")
    assert code == 200 and cert["name"] == "张*" and cert["course_title"] == "安全生产月必修课"
    assert cert["credit_hours"] == 2.5 and len(cert["issued_on"]) == 10
    code, mine = await mp.call("GET", "/api/mp/learning/credits", token=token)
    assert code == 200 and mine["total_hours"] == 2.5 and mine["items"][0]["certificate"] == beat["certificate"]
    code, home = await mp.call("GET", "/api/mp/learning/mine", token=token)
    assert code == 200 and home["in_progress"] == [] and home["completed"] == 1 and home["credit_hours"] == 2.5
    code, detail = await mp.call("GET", base, token=token)
    assert detail["completed"] and all(u["done"] for u in detail["units"])
    code, missing = await mp.call("GET", "/api/mp/learning/certificates/SDXX20269999999")
    assert code == 404 and "未找到该证书" in missing["message"]


async def test_a_fourth_quiz_attempt_is_refused_in_chinese_and_answers_show_after_the_last(
    deps: Deps, mp: MpClient
) -> None:
    cid = await published_course(deps, org="370000")
    token = await mp.login("o_guest")
    base = f"/api/mp/learning/courses/{cid}/units/z1/quiz"
    seen = []
    for n in (1, 2, 3):
        code, quiz = await mp.call("GET", base, token=token)
        assert quiz["attempt"] == n and quiz["answers"] is None
        seen.append([q["id"] for q in quiz["questions"]])
        wrong = {q["id"]: "b" if q["type"] == "single" else ["b"] for q in quiz["questions"]}
        code, res = await mp.call("POST", base, {"attempt": n, "answers": wrong}, token=token)
        assert code == 200 and not res["passed"] and res["attempts_left"] == 3 - n
        assert (res["answers"] is None) == (n < 3)
    assert len({tuple(s) for s in seen}) > 1  # each attempt draws its own questions
    code, err = await mp.call("POST", base, {"attempt": 4, "answers": {}}, token=token)
    assert code == 409 and err["code"] == "attempts_exhausted" and "答题次数已用完" in err["message"]
    code, err = await mp.call("POST", base, {"attempt": 3, "answers": {}}, token=token)
    assert code in (400, 409) and err["message"]
    code, quiz = await mp.call("GET", base, token=token)
    assert quiz["attempt"] is None and quiz["questions"] == [] and quiz["answers"]["m1"] == ["a", "c"]


async def test_concurrent_submits_of_one_attempt_count_once(deps: Deps, mp: MpClient) -> None:
    cid = await published_course(deps, org="370000")
    token = await mp.login("o_racer")
    base = f"/api/mp/learning/courses/{cid}/units/z1/quiz"
    code, quiz = await mp.call("GET", base, token=token)
    wrong = {q["id"]: "b" if q["type"] == "single" else ["b"] for q in quiz["questions"]}
    submit = {"attempt": 1, "answers": wrong}
    results = await asyncio.gather(*(mp.call("POST", base, submit, token=token) for _ in range(8)))
    assert sorted(code for code, _ in results) == [200] + [409] * 7
    stored = await deps.db.learning_quiz.find_one({"_id": f"{cid}:z1:o_racer"})
    assert stored["used"] == 1 and len(stored["attempts"]) == 1


async def test_bad_requests_are_chinese_4xx(deps: Deps, mp: MpClient) -> None:
    member_course = await published_course(deps, org="370000", members_only=True)
    city_course = await published_course(deps, org="370200")
    token = await mp.login("o_someone")
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", f"/api/mp/learning/courses/{member_course}/units/v1/start", None, 403, "members_only"),
        ("GET", f"/api/mp/learning/courses/{city_course}", None, 404, "not_found"),
        ("GET", "/api/mp/learning/courses/nope", None, 404, "course_not_found"),
        ("POST", f"/api/mp/learning/courses/{member_course}/units/v1/heartbeat", {"from": 5, "to": 1}, 400,
         "invalid_segment"),
        ("POST", f"/api/mp/learning/courses/{member_course}/units/v1/heartbeat", {"from": 0}, 400, "invalid_field"),
        ("GET", "/api/mp/learning/credits?year=20x6", None, 400, "invalid_field"),
    ]  # fmt: skip
    for method, path, body, status, code in cases:
        got, err = await mp.call(method, path, body, token=token)
        assert (got, err["code"]) == (status, code), (path, err)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in err["message"]), err
