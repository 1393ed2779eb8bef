"""A competition from 立项 to commendations through the services, with the refusals a user would meet."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.competitions import admin, appeals, closing, entries, judging, panel, results, store
from services.competitions.workdays import working_days_between
from tests.competitions.helpers import CITY, PROVINCE, judge_account, new_data, running, scope_of


async def test_approval_belongs_to_the_parent_org(deps: Deps) -> None:
    city = await scope_of(deps, CITY)
    comp = await admin.create(deps, city, new_data())
    assert comp.status == "draft"
    with pytest.raises(Forbidden) as refused:
        await admin.approve(deps, city, comp.id)
    assert "上级工会" in refused.value.message
    with pytest.raises(NotFound):  # another city's editor does not even see it
        await admin.approve(deps, await scope_of(deps, "370200"), comp.id)
    approved = await admin.approve(deps, await scope_of(deps, PROVINCE), comp.id)
    assert approved.status == "registration"
    with pytest.raises(Conflict):
        await admin.approve(deps, await scope_of(deps, PROVINCE), comp.id)
    log = [d async for d in deps.db.audit_log.find({"target_id": comp.id}).sort("at", 1)]
    assert [d["action"] for d in log] == ["create", "approve"]


async def test_bad_competition_input_is_refused_in_chinese(deps: Deps) -> None:
    city = await scope_of(deps, CITY)
    with pytest.raises(BadInput, match="评委人数"):
        await admin.create(deps, city, new_data(rules={"judges_per_entry": 3}))
    with pytest.raises(BadInput, match="分值范围"):
        await admin.create(deps, city, new_data(rubric=[{"name": "x", "weight": 1, "min": 5, "max": 5}]))
    with pytest.raises(BadInput, match="公示天数"):
        await admin.create(deps, city, new_data(rules={"publicity_days": 3}))
    with pytest.raises(BadInput, match="竞赛类型"):
        await admin.create(deps, city, new_data(kind="tennis"))


async def test_registration_rules(deps: Deps) -> None:
    city = await scope_of(deps, CITY)
    comp = await admin.create(deps, city, new_data(registration_deadline=(now() + timedelta(days=1)).isoformat()))
    county = await scope_of(deps, "370102")
    with pytest.raises(Conflict, match="报名中"):  # not yet approved
        await entries.register(deps, county, comp.id, "370102", "历下区队")
    assert await admin.open_to_me(deps, county) == []  # not approved yet
    await admin.approve(deps, await scope_of(deps, PROVINCE), comp.id)
    assert [c["_id"] for c in await admin.open_to_me(deps, county)] == [comp.id]
    assert await admin.open_to_me(deps, await scope_of(deps, "370202")) == []
    with pytest.raises(NotFound):  # 青岛 is outside the owner's subtree
        await entries.register(deps, await scope_of(deps, "370202"), comp.id, "370202", "市南区队")
    entry = await entries.register(deps, county, comp.id, "370102", "历下区队")
    assert len(entry["blind_code"]) == 6 and entry["status"] == "pending"
    with pytest.raises(Conflict, match="已报名"):
        await entries.register(deps, county, comp.id, "370102", "历下区二队")
    with pytest.raises(Forbidden, match="上级工会"):  # the entrant cannot approve itself
        await entries.review_registration(deps, county, entry["_id"], True)
    approved = await entries.review_registration(deps, city, entry["_id"], True)
    assert approved["status"] == "approved"
    await deps.db.competitions.update_one({"_id": comp.id}, {"$set": {"registration_deadline": now()}})
    with pytest.raises(Conflict) as late:
        await entries.register(deps, await scope_of(deps, "370103"), comp.id, "370103", "市中区队")
    assert late.value.message == "报名已截止，不能再报名"


async def test_stage_reports_are_checked_and_locked_once_accepted(deps: Deps) -> None:
    comp, ids = await running(deps, 2, 6)
    entry = await store.entry(deps.db, ids[0])
    assert entry is not None
    mine = await scope_of(deps, entry["org"])
    with pytest.raises(BadInput, match="整改率"):
        await entries.submit_report(deps, mine, ids[0], "s1", "本季度排查", {"隐患排查数": 12}, [])
    report = await entries.submit_report(
        deps, mine, ids[0], "s1", "本季度排查", {"隐患排查数": 12, "整改率": 0.95}, ["media_AbC-1"]
    )
    assert report["figures"] == {"隐患排查数": 12.0, "整改率": 0.95}
    await entries.review_report(deps, await scope_of(deps, CITY), report["_id"], True)
    with pytest.raises(Conflict, match="审核通过"):
        await entries.submit_report(deps, mine, ids[0], "s1", "改一下", {"隐患排查数": 1, "整改率": 1}, [])


async def score_all(deps: Deps, cid: str, value: float = 8) -> None:
    """Every assignment not yet scored (nor recused) gets its judge's score."""
    done = {s["_id"] for s in await store.scores(deps.db, cid)}
    out = {f"{cid}:{e['_id']}:{j}" for e in await store.entries(deps.db, cid) for j in e.get("recused") or ()}
    rows = [a for a in await store.assignments(deps.db, cid) if a["_id"] not in done | out]
    for i, a in enumerate(rows):
        judge = await judge_account(deps, a["judge"])
        v = value + (i % 3) - 1
        await judging.submit(deps, judge, cid, a["blind_code"], {"c1": v, "c2": v})


async def test_judging_scoring_publicity_appeal_and_commendation(deps: Deps) -> None:
    comp, ids = await running(deps, 4, 9)
    city = await scope_of(deps, CITY)
    comp = await panel.start_judging(deps, city, comp.id)
    assert comp.status == "judging"
    tasks = await store.assignments(deps.db, comp.id)
    assert len(tasks) == 4 * 5
    a = tasks[0]
    judge = await judge_account(deps, a["judge"])
    with pytest.raises(BadInput) as out_of_range:
        await judging.submit(deps, judge, comp.id, a["blind_code"], {"c1": 11, "c2": 5})
    assert out_of_range.value.message == "「安全管理」的分数应在 0 到 10 分之间"
    outsider = next(
        j
        for j in (f"judge{i}" for i in range(9))
        if not any(t["judge"] == j and t["entry"] == a["entry"] for t in tasks)
    )
    with pytest.raises(Forbidden, match="不在您的评审任务中"):
        await judging.submit(deps, await judge_account(deps, outsider), comp.id, a["blind_code"], {"c1": 5, "c2": 5})
    view = await judging.my_tasks(deps, judge)
    assert all("name" not in t and "entry" not in t for c in view for t in c["tasks"])
    with pytest.raises(Conflict, match="评分未提交"):
        await closing.publish(deps, city, comp.id)
    await score_all(deps, comp.id)
    assert await closing.rebuild_equals_stored(deps, comp.id)
    comp = await closing.publish(deps, city, comp.id)
    assert comp.status == "publicity" and comp.publicity_ends_at is not None
    assert working_days_between(now(), comp.publicity_ends_at) == 5
    push = await deps.db.pushes.find_one({"_id": (await store.competition(deps.db, comp.id) or {})["publicity_push"]})
    assert push is not None and push["status"] == "draft" and push["channel"] == "custom"
    assert push["audience"]["orgs"] == sorted(e["org"] for e in await store.entries(deps.db, comp.id))

    entrant = await scope_of(deps, (await store.entry(deps.db, ids[0]) or {})["org"])
    with pytest.raises(Forbidden, match="主办工会不能代为申诉"):
        await appeals.appeal(deps, city, ids[0], "主办方替参赛单位申诉")
    await appeals.appeal(deps, entrant, ids[0], "评分与阶段报告不符，请复核")
    with pytest.raises(Conflict, match="只能申诉一次"):
        await appeals.appeal(deps, entrant, ids[0], "再申诉一次看看")
    with pytest.raises(Conflict, match="公示期到"):
        await closing.finalize(deps, city, comp.id)
    await deps.db.competitions.update_one({"_id": comp.id}, {"$set": {"publicity_ends_at": now()}})  # time passes
    with pytest.raises(Conflict, match="申诉未处理"):
        await closing.finalize(deps, city, comp.id)
    scored_by = [s["judge"] for s in await store.scores(deps.db, comp.id, ids[0])]
    decided = await appeals.decide(deps, city, ids[0], True, "复核：重新评审", reopen=True, void_judge=scored_by[0])
    fresh = decided["fresh_judge"]
    assert fresh not in scored_by
    entry = await store.entry(deps.db, ids[0])
    assert entry is not None and entry["voided"] == [scored_by[0]]
    assert len(await store.scores(deps.db, comp.id, ids[0])) == 5  # the voided row is kept
    code = entry["blind_code"]
    await judging.submit(deps, await judge_account(deps, fresh), comp.id, code, {"c1": 10, "c2": 10})
    assert await closing.rebuild_equals_stored(deps, comp.id)
    with pytest.raises(Conflict) as late:
        await appeals.appeal(deps, await scope_of(deps, "370103"), ids[1], "公示结束后的申诉")
    assert late.value.message == "公示期已结束，不能再申诉"
    final = await closing.finalize(deps, city, comp.id)
    assert final.status == "final"
    honours = await closing.commendations(deps, comp.id)
    ranking = await closing.ranking(deps.db, final)
    assert [h["entry"] for h in honours] == [r["entry"] for r in ranking[:2]]
    assert {h["award"] for h in honours} == {"优胜单位"}
    actions = [d["summary"] async for d in deps.db.audit_log.find({"target_id": comp.id})]
    assert any("申诉成立" in s for s in actions) and any("表彰名单" in s for s in actions)


async def test_concurrent_double_submission_stores_one_row(deps: Deps) -> None:
    comp, _ = await running(deps, 2, 7)
    comp = await panel.start_judging(deps, await scope_of(deps, CITY), comp.id)
    a = (await store.assignments(deps.db, comp.id))[0]
    judge = await judge_account(deps, a["judge"])
    outcomes = await asyncio.gather(
        *(judging.submit(deps, judge, comp.id, a["blind_code"], {"c1": 5 + i, "c2": 5}) for i in range(4)),
        return_exceptions=True,
    )
    ok = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(ok) == 1 and len(refused) == 3, outcomes
    assert refused[0].message == "您已提交过该作品的评分，提交后不能修改"
    rows = await deps.db.comp_scores.count_documents({"entry": a["entry"], "judge": a["judge"]})
    assert rows == 1
    res = await results.stored(deps.db, comp)
    assert res[a["entry"]].judges == 1 and res[a["entry"]].score is None  # below the 5-judge rule


async def test_a_judge_declares_conflicts_before_assignment(deps: Deps) -> None:
    comp, ids = await running(deps, 6, 8)
    judge = await judge_account(deps, "judge1")
    entry = await store.entry(deps.db, ids[0])
    assert entry is not None
    with pytest.raises(BadInput, match="不存在"):
        await judging.declare_conflicts(deps, judge, comp.id, ["999999"])
    assert entry["org"] in await judging.declare_conflicts(deps, judge, comp.id, [entry["org"]])
    with pytest.raises(Forbidden):  # an editor account is not a judge
        await judging.declare_conflicts(deps, (await scope_of(deps, CITY)).editor, comp.id, [entry["org"]])
    await panel.start_judging(deps, await scope_of(deps, CITY), comp.id)
    on_entry = {a["judge"] for a in await store.assignments(deps.db, comp.id, entry=ids[0])}
    assert "judge1" not in on_entry and len(on_entry) == 5
    with pytest.raises(Conflict, match="不能再申报回避"):
        await judging.declare_conflicts(deps, judge, comp.id, [entry["org"]])


async def test_assignment_rerun_after_a_crash_changes_nothing(deps: Deps) -> None:
    """start_judging writes assignments, then moves the status; a crash between the two is re-run safely."""
    comp, _ = await running(deps, 6, 9)
    city = await scope_of(deps, CITY)
    await panel.start_judging(deps, city, comp.id)
    first = await store.assignments(deps.db, comp.id)
    await deps.db.comp_assignments.delete_many({"_id": {"$in": [a["_id"] for a in first[::2]]}})  # half written
    await deps.db.competitions.update_one({"_id": comp.id}, {"$set": {"status": "in_progress"}})  # not moved
    again = await panel.start_judging(deps, city, comp.id)
    assert again.status == "judging"
    assert [a["_id"] for a in await store.assignments(deps.db, comp.id)] == [a["_id"] for a in first]


async def test_an_ankang_stage_links_a_safety_quiz_survey_workers_can_see(deps: Deps) -> None:
    from services.surveys import definitions as survey_admin

    def quiz(org: str) -> dict[str, object]:
        return {
            "org": org,
            "title": "安全知识竞答",
            "opens_at": now(),
            "closes_at": now() + timedelta(days=20),
            "questions": [
                {
                    "id": "q1",
                    "type": "single",
                    "title": "灭火器",
                    "options": [{"id": "a", "label": "干粉"}, {"id": "b", "label": "水"}],
                }
            ],
        }

    mine = await survey_admin.create_survey(deps, quiz("370102"), editor_org=None)
    other = await survey_admin.create_survey(deps, quiz("370200"), editor_org=None)
    city = await scope_of(deps, CITY)
    with pytest.raises(BadInput, match="参赛职工看不到"):
        await admin.create(deps, city, new_data(stages=[{"name": "竞答", "quiz_survey": other["_id"]}]))
    comp = await admin.create(deps, city, new_data(stages=[{"name": "竞答", "quiz_survey": mine["_id"]}]))
    assert comp.stages[0].quiz_survey == mine["_id"]


async def test_a_judge_recuses_after_reading_an_entry_and_is_replaced(deps: Deps) -> None:
    comp, ids = await running(deps, 4, 9)
    await panel.start_judging(deps, await scope_of(deps, CITY), comp.id)
    task = (await store.assignments(deps.db, comp.id, entry=ids[0]))[0]
    judge = await judge_account(deps, task["judge"])
    with pytest.raises(BadInput, match="回避理由"):
        await judging.recuse(deps, judge, comp.id, task["blind_code"], "")
    await judging.recuse(deps, judge, comp.id, task["blind_code"], "曾在该企业任职")
    again = await judging.recuse(deps, judge, comp.id, task["blind_code"], "曾在该企业任职")  # a retry: no-op
    assert again["recused"] is True
    on_entry = await store.assignments(deps.db, comp.id, entry=ids[0])
    assert len(on_entry) == 6 and len({a["judge"] for a in on_entry}) == 6  # five active + the recused one
    with pytest.raises(Conflict, match="已申请回避"):
        await judging.submit(deps, judge, comp.id, task["blind_code"], {"c1": 9, "c2": 9})
    tasks = await judging.my_tasks(deps, judge)
    assert [t["recused"] for t in tasks[0]["tasks"] if t["code"] == task["blind_code"]] == [True]

    # a score of the recused judge that raced in is kept as a row but never counted
    await deps.db.comp_scores.insert_one(
        {
            "_id": task["_id"],
            "competition": comp.id,
            "entry": ids[0],
            "judge": task["judge"],
            "values": {"c1": 0, "c2": 0},
        }
    )
    await score_all(deps, comp.id)
    c = await closing.publish(deps, await scope_of(deps, CITY), comp.id)
    assert c.status == "publicity"
    res = await results.stored(deps.db, c)
    assert res[ids[0]].judges == 5 and await closing.rebuild_equals_stored(deps, comp.id)
    summaries = [d["summary"] async for d in deps.db.audit_log.find({"target_id": comp.id})]
    assert sum("申请回避" in s for s in summaries) == 1


async def test_recusal_without_a_replacement_changes_nothing(deps: Deps) -> None:
    comp, ids = await running(deps, 1, 7)  # the entry's county recuses two of seven judges: five remain, all needed
    await panel.start_judging(deps, await scope_of(deps, CITY), comp.id)
    task = (await store.assignments(deps.db, comp.id, entry=ids[0]))[0]
    with pytest.raises(Conflict, match="请先增加评委"):
        await judging.recuse(deps, await judge_account(deps, task["judge"]), comp.id, task["blind_code"], "认识该班组")
    entry = await store.entry(deps.db, ids[0])
    assert entry is not None and not entry.get("recused")
    await judge_account(deps, "late_judge", "370103")
    await panel.add_judge(deps, await scope_of(deps, CITY), comp.id, "late_judge")
    with pytest.raises(Conflict, match="不能修改已有评委"):
        await panel.add_judge(deps, await scope_of(deps, CITY), comp.id, task["judge"], ["370102"])
    await judging.recuse(deps, await judge_account(deps, task["judge"]), comp.id, task["blind_code"], "认识该班组")
    assert "late_judge" in {a["judge"] for a in await store.assignments(deps.db, comp.id, entry=ids[0])}
