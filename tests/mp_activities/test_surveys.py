"""Surveys against the real MongoDB-wire server and Redis: definitions, answers, limits, drafts, results."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict, Forbidden, NotFound
from services.surveys import answering as surveys
from services.surveys import definitions as survey_admin
from services.surveys.questions import InvalidAnswers, InvalidDefinition
from tests.mp_activities.conftest import GOOD_ANSWERS, guest, member, survey_def


async def published(deps: Deps, **over: Any) -> str:
    doc = await survey_admin.create_survey(deps, survey_def(**over), editor_org=None)  # the system
    await survey_admin.publish_survey(deps, doc["_id"], editor_org=None)
    return str(doc["_id"])


async def test_definition_errors_are_per_question(deps: Deps) -> None:
    bad = survey_def(
        questions=[
            {"id": "q1", "type": "single", "title": "只有一个选项", "options": [{"id": "a", "label": "甲"}]},
            {
                "id": "q2",
                "type": "multiple",
                "title": "多选",
                "options": [{"id": "a", "label": "甲"}],
                "min_choices": 3,
            },
            {"id": "q3", "type": "text", "title": "条件错", "show_if": {"question": "q9", "any_of": ["a"]}},
            {"id": "q3", "type": "rating", "title": "重复 id"},
            {"id": "q5", "type": "slider", "title": "未知题型"},
        ],
        closes_at="not a time",
    )
    with pytest.raises(InvalidDefinition) as err:
        await survey_admin.create_survey(deps, bad, editor_org="370100")
    errors = err.value.errors
    assert "单选题至少需要 2 个选项" in errors["q1"]
    assert "最少选择项数" in errors["q2"]
    assert "前面的题目" in errors["q3"]
    assert "重复" in errors["questions[3]"]
    assert "题型" in errors["q5"]
    assert "格式不正确" in errors["closes_at"]


async def test_editor_scope(deps: Deps) -> None:
    with pytest.raises(Forbidden):
        await survey_admin.create_survey(deps, survey_def(org="370200"), editor_org="370100")  # Qingdao, not Jinan
    doc = await survey_admin.create_survey(deps, survey_def(org="370102"), editor_org="370100")  # a district below
    assert doc["org_path"] == ["370000", "370100", "370102"]
    assert [d["_id"] for d in await survey_admin.list_surveys(deps, editor_org="370100")] == [doc["_id"]]


async def test_visibility_and_members_only(deps: Deps) -> None:
    sid = await published(deps, members_only=True)
    qingdao = member("o_qd", ("370000", "370200"))
    with pytest.raises(NotFound):
        await surveys.detail(deps, qingdao, sid)
    with pytest.raises(NotFound):  # unbound: province-wide only
        await surveys.detail(deps, guest("o_guest"), sid)
    assert (await surveys.list_visible(deps, qingdao))["items"] == []
    jinan = member("o_jn")
    listed = await surveys.list_visible(deps, jinan)
    assert [i["id"] for i in listed["items"]] == [sid]
    province = await published(deps, org="370000", members_only=True)
    with pytest.raises(Forbidden) as err:
        await surveys.submit(deps, guest("o_guest"), province, GOOD_ANSWERS)
    assert "会员" in err.value.message


async def test_answers_validated_per_question_in_chinese(deps: Deps) -> None:
    sid = await published(deps)
    user = member("o1")
    answers = {"q1": "yes", "q2": ["a"], "q3": "太长了" * 10, "q4": 9, "q5": {"r1": "good"}, "q9": "x"}
    with pytest.raises(InvalidAnswers) as err:
        await surveys.submit(deps, user, sid, answers)
    assert err.value.errors == {
        "q2": "请至少选择 2 项",
        "q3": "最多 20 个字（当前 30 字）",
        "q4": "请选择 1 到 5 之间的分值",
        "q5": "请为每一行选择一项，未作答：宿舍",
        "q9": "没有这道题，请刷新后重新填写",
    }
    assert err.value.message.startswith("有 5 道题需要修改：第 2 题")
    with pytest.raises(InvalidAnswers) as err:
        await surveys.submit(deps, user, sid, {})
    assert set(err.value.errors) == {"q1", "q4", "q5"}  # q2 is hidden while q1 is unanswered


async def test_skip_logic_drops_hidden_answers(deps: Deps) -> None:
    sid = await published(deps)
    answers = {"q1": "no", "q2": ["a"], "q4": 3, "q5": {"r1": "good", "r2": "good"}}  # q2 hidden: not checked
    response, created = await surveys.submit(deps, member("o1"), sid, answers)
    assert created and "q2" not in response["answers"]


async def test_one_response_per_user_even_when_racing(deps: Deps) -> None:
    sid = await published(deps)
    user = member("o1")
    results = await asyncio.gather(
        *(surveys.submit(deps, user, sid, GOOD_ANSWERS) for _ in range(8)), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(ok) == 1 and len(refused) == 7, results
    assert refused[0].code == "already_submitted"
    assert await deps.db.survey_responses.count_documents({"survey_id": sid}) == 1


async def test_configurable_limit_holds_under_races(deps: Deps) -> None:
    sid = await published(deps, max_responses_per_user=3)
    user = member("o1")
    results = await asyncio.gather(
        *(surveys.submit(deps, user, sid, GOOD_ANSWERS) for _ in range(10)), return_exceptions=True
    )
    assert sum(isinstance(r, tuple) for r in results) == 3
    mine = await surveys.my_responses(deps, user, sid)
    assert len(mine["items"]) == 3 and mine["remaining"] == 0


async def test_replayed_submit_returns_the_first_response(deps: Deps) -> None:
    sid = await published(deps, max_responses_per_user=2)
    user = member("o1")
    first, created = await surveys.submit(deps, user, sid, GOOD_ANSWERS, client_id="abc")
    again, created_again = await surveys.submit(deps, user, sid, GOOD_ANSWERS, client_id="abc")
    assert created and not created_again and first["id"] == again["id"]
    assert (await surveys.my_responses(deps, user, sid))["remaining"] == 1


async def test_open_and_close_times(deps: Deps) -> None:
    later = await published(deps, opens_at=(now() + timedelta(days=1)).isoformat())
    with pytest.raises(Conflict) as err:
        await surveys.submit(deps, member("o1"), later, GOOD_ANSWERS)
    assert err.value.code == "survey_not_open" and "尚未开始" in err.value.message
    sid = await published(deps)
    await survey_admin.close_survey(deps, sid, editor_org="370100")
    with pytest.raises(Conflict) as err:
        await surveys.submit(deps, member("o1"), sid, GOOD_ANSWERS)
    assert err.value.code == "survey_closed"


async def test_anonymous_survey_stores_no_identity(deps: Deps) -> None:
    sid = await published(deps, anonymous=True)
    user = member("o_secret")
    await surveys.submit(deps, user, sid, GOOD_ANSWERS)
    stored = await deps.db.survey_responses.find_one({"survey_id": sid})
    assert stored is not None
    assert "o_secret" not in str(stored) and "member_id" not in stored and "org" not in stored
    with pytest.raises(Conflict):  # the limit still holds
        await surveys.submit(deps, user, sid, GOOD_ANSWERS)
    assert len((await surveys.my_responses(deps, user, sid))["items"]) == 1


async def test_draft_saved_resumed_and_cleared_on_submit(deps: Deps) -> None:
    sid = await published(deps)
    user = member("o1")
    assert (await surveys.get_draft(deps, user, sid))["answers"] == {}
    await surveys.save_draft(deps, user, sid, {"q1": "yes", "q2": ["a"]})  # minimums not enforced yet
    with pytest.raises(InvalidAnswers):
        await surveys.save_draft(deps, user, sid, {"q4": 99})  # but values must make sense
    assert (await surveys.get_draft(deps, user, sid))["answers"] == {"q1": "yes", "q2": ["a"]}
    assert (await surveys.detail(deps, user, sid))["has_draft"] is True
    await surveys.submit(deps, user, sid, GOOD_ANSWERS)
    assert (await surveys.get_draft(deps, user, sid))["answers"] == {}


async def test_results_counts_and_text_paging(deps: Deps) -> None:
    sid = await published(deps)
    for i in range(5):
        answers = dict(GOOD_ANSWERS, q3=f"建议{i}", q4=i + 1, q1="yes" if i < 3 else "no")
        if i >= 3:
            answers.pop("q2")
        await surveys.submit(deps, member(f"o{i}"), sid, answers)
    res = await survey_admin.survey_results(deps, sid, editor_org="370000")
    assert res["responses"] == 5
    q1, q2, _, q4, q5 = res["questions"]
    assert [o["count"] for o in q1["options"]] == [3, 2]
    assert [o["count"] for o in q2["options"]] == [3, 3, 0] and q2["answered"] == 3
    assert [d["count"] for d in q4["distribution"]] == [1, 1, 1, 1, 1] and q4["average"] == 3.0
    assert q5["rows"][0]["columns"][0]["count"] == 5 and q5["rows"][1]["columns"][1]["count"] == 5
    page1 = await survey_admin.text_answers(deps, sid, "q3", editor_org="370100", limit=3)
    page2 = await survey_admin.text_answers(deps, sid, "q3", editor_org="370100", cursor=page1["next"], limit=3)
    assert [i["text"] for i in page1["items"] + page2["items"]] == [f"建议{i}" for i in range(5)]
    assert page2["next"] is None


async def test_published_survey_questions_are_locked(deps: Deps) -> None:
    sid = await published(deps)
    with pytest.raises(Conflict):
        await survey_admin.update_survey(deps, sid, {"questions": []}, editor_org="370100")
    later = (now() + timedelta(days=30)).isoformat()
    updated = await survey_admin.update_survey(deps, sid, {"closes_at": later, "title": "新标题"}, editor_org="370100")
    assert updated["title"] == "新标题"
    with pytest.raises(Conflict):
        await survey_admin.delete_survey(deps, sid, editor_org="370100")


async def test_odd_definitions_and_answers_are_refused_not_crashed(deps: Deps) -> None:
    odd = survey_def(questions=[
        {"id": "q1", "type": "single", "title": "单选",
         "options": [{"id": "a", "label": "甲"}, {"id": "b", "label": "乙"}]},
        {"id": "q2", "type": "text", "title": "条件", "show_if": {"question": "q1", "any_of": [["a"], {"x": 1}]}},
        "not a question",
    ])  # fmt: skip
    with pytest.raises(InvalidDefinition) as err:
        await survey_admin.create_survey(deps, odd, editor_org=None)
    assert set(err.value.errors) == {"q2", "questions[2]"}
    sid = await published(deps)
    for answers in ({"q1": ["yes"]}, {"q1": {"x": 1}}, {"q5": {"r1": ["good"]}}, {"q4": 3.0}, {"q3": 7}):
        with pytest.raises(InvalidAnswers):
            await surveys.submit(deps, member("o1"), sid, dict(GOOD_ANSWERS, **answers))
