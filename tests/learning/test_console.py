"""Editors: create, order, publish (audited), funnel, completion by org, the credit ledger CSV, the scope rule."""

from __future__ import annotations

import csv
import io

from core.deps import Deps
from services.learning import credits, quizzes, studying
from tests.console.conftest import Client
from tests.learning.conftest import Clock, course_def, worker, zhang

JINAN, QINGDAO = "370100", "370200"


async def test_editor_builds_publishes_and_reads_the_course(
    deps: Deps, client: Client, roster: None, clock: Clock
) -> None:
    ed = await client("jinan_ed", org=JINAN, role="editor")
    resp = await ed.api("POST", "/api/admin/learning/courses", course_def())
    assert resp.status == 201, resp.text
    cid = resp.json["id"]
    assert resp.json["org"] == JINAN and resp.json["status"] == "draft"
    resp = await ed.api("POST", f"/api/admin/learning/courses/{cid}/order", {"units": ["a1", "v1", "z1"]})
    assert resp.status == 200 and [u["id"] for u in resp.json["units"]] == ["a1", "v1", "z1"]
    resp = await ed.api("POST", f"/api/admin/learning/courses/{cid}/order", {"units": ["a1", "v1"]})
    assert resp.status == 400 and "全部单元" in resp.json["message"]
    assert (await ed.api("POST", f"/api/admin/learning/courses/{cid}/publish")).status == 200
    resp = await ed.api("PATCH", f"/api/admin/learning/courses/{cid}", course_def(title="改名"))
    assert resp.status == 409 and "已发布" in resp.json["message"]
    actions = [d["action"] async for d in deps.db.audit_log.find({"target_type": "course"}).sort("at", 1)]
    assert actions == ["create", "update", "publish"]

    # 张三 finishes the course; another learner only reads the article.
    await credits.record_unit_done(deps, zhang(), *await _course_and(deps, cid, "a1"))
    await credits.record_unit_done(deps, zhang(), *await _course_and(deps, cid, "v1"))
    quiz = await quizzes.show(deps, zhang(), cid, "z1")
    answers = {q["id"]: ["a", "c"] if q["type"] == "multiple" else "a" for q in quiz["questions"]}
    assert (await quizzes.submit(deps, zhang(), cid, "z1", 1, answers))["course_completed"]
    await studying.read_article(deps, worker("o_other", ("370000", JINAN, "370102")), cid, "a1")

    funnel = (await ed.api("GET", f"/api/admin/learning/courses/{cid}/funnel")).json
    assert funnel["enrolled"] == 2
    assert [(u["unit"], u["done"]) for u in funnel["units"]] == [("a1", 2), ("v1", 1), ("z1", 1)]
    comp = (await ed.api("GET", f"/api/admin/learning/completion?org={JINAN}&course={cid}")).json
    assert comp["org"] == JINAN and [(r["org"], r["enrolled"], r["completed"]) for r in comp["items"]] == [
        ("370102", 2, 1)
    ]
    deeper = (await ed.api("GET", "/api/admin/learning/completion?org=370102")).json
    assert [(r["org"], r["completed"]) for r in deeper["items"]] == [("370102", 0), ("370102001", 1)]
    ranking = (await ed.api("GET", f"/api/admin/learning/courses/{cid}/quiz/z1/ranking?org=370102")).json
    assert [(r["org"], r["took"], r["passed"]) for r in ranking["items"]] == [("370102001", 1, 1)]
    page = await ed.get(f"/admin/learning/courses/{cid}")
    assert page.status == 200 and "单元漏斗" in page.text and "课后测验" in page.text and "没有异常" in page.text

    export = await ed.get("/admin/learning/credits.csv")
    assert export.status == 200 and export.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert rows[0] == ["会员编号", "姓名", "所属工会", "年度", "学时合计", "完成课程数"]
    assert rows[1][:2] == ["JN0001", "张三"] and rows[1][4:] == ["2.5", "1"]

    other_city = await client("qd_ed", org=QINGDAO, role="editor")
    assert (await other_city.api("GET", f"/api/admin/learning/courses/{cid}")).status == 404
    assert (await other_city.api("POST", f"/api/admin/learning/courses/{cid}/close")).status == 404
    assert len((await other_city.get("/admin/learning/credits.csv")).text.strip().splitlines()) == 1


async def test_bad_definitions_are_refused_in_chinese(client: Client) -> None:
    ed = await client("prov_ed", role="editor")
    bad_unit = course_def(units=[{"kind": "video", "title": "无地址", "duration_s": 60}])
    resp = await ed.api("POST", "/api/admin/learning/courses", bad_unit)
    assert resp.status == 400 and "视频地址" in resp.json["message"]
    no_answer = course_def(units=[{"kind": "quiz", "title": "测验", "questions": [
        {"id": "q1", "type": "single", "title": "题", "options": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}]}
    ]}])  # fmt: skip
    resp = await ed.api("POST", "/api/admin/learning/courses", no_answer)
    assert resp.status == 400 and "正确答案" in resp.json["message"]
    viewer = await client("prov_view", role="viewer")
    assert (await viewer.api("POST", "/api/admin/learning/courses", course_def())).status == 403


async def _course_and(deps: Deps, cid: str, unit: str) -> tuple[object, str]:
    return await studying.course_for(deps, zhang(), cid), unit
