"""Polls in the console: create (once on a double submit), results with a chart, exports, scope."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from openpyxl import load_workbook

from core.clock import now
from core.deps import Deps
from services.members.sessions import CurrentUser
from services.polls import voting as votes
from tests.console.conftest import CITY_A, CITY_B, Client, audit_count
from tests.mp.polls_helpers import make_poll


def poll_form(**kw: str) -> dict[str, str]:
    closes = (now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    return {
        "title": "最美职工评选",
        "description": "请选出您心中的最美职工",
        "options": "张师傅\n李工\n王班长",
        "closes_at": closes,
        "limit_per": "poll",
        "limit_count": "1",
        "max_choices": "1",
        "publish": "1",
        "form_key": "pollform1234",
        **kw,
    }


async def test_create_vote_results_and_export(client: Client, deps: Deps) -> None:
    c = await client("jn_polls", org=CITY_A, role="editor")
    first = await c.post("/admin/polls/new", poll_form())
    again = await c.post("/admin/polls/new", poll_form())  # the same form sent twice
    assert first.status == again.status == 303 and first.location == again.location
    assert await deps.db.polls.count_documents({}) == 1
    poll = await deps.db.polls.find_one({})
    assert poll["org"] == CITY_A and poll["status"] == "published" and poll["created_by"] == "jn_polls"
    ids = [o["id"] for o in poll["options"]]
    for i, opt in enumerate([ids[0], ids[0], ids[1]]):
        user = CurrentUser(openid=f"o_voter_{i}", org=CITY_A, org_path=("370000", CITY_A), member_id=f"M{i}")
        await votes.cast(deps, user, poll["_id"], [opt], "127.0.0.1")
    page = await c.get(first.location)
    assert page.status == 200 and "张师傅" in page.text and "<svg" in page.text and "66.7%" in page.text
    csv_resp = await c.get(first.location + "/export.csv")
    assert csv_resp.status == 200 and csv_resp.headers["Content-Type"].startswith("text/csv")
    assert "filename*=UTF-8''" in csv_resp.headers["Content-Disposition"]
    assert csv_resp.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(csv_resp.text.lstrip("\ufeff"))))
    assert (
        rows[0] == ["排名", "选项", "票数", "占比"]
        and rows[1][1:3] == ["张师傅", "2"]
        and rows[2][1:3] == ["李工", "1"]
    )
    async with c.http.get(c.base + first.location + "/export.xlsx") as r:
        assert r.status == 200
        book = load_workbook(io.BytesIO(await r.read()))
    sheet = book.worksheets[0]
    assert sheet.title == "投票结果" and [c.value for c in sheet[2]][1:3] == ["张师傅", 2]
    api = await c.api("GET", f"/api/admin/polls/{poll['_id']}/results")
    assert api.json["live"][ids[0]] == 2
    entry = await deps.db.audit_log.find_one({"action": "poll.create"})
    assert entry["after"]["title"] == "最美职工评选" and entry["org_path"] == ["370000", CITY_A]


async def test_poll_form_errors_are_shown(client: Client, deps: Deps) -> None:
    c = await client("jn_polls2", org=CITY_A, role="editor")
    resp = await c.post("/admin/polls/new", poll_form(options="只有一个", form_key="pollform0001"))
    assert resp.status == 400 and 'data-error-for="options"' in resp.text and "2 到" in resp.text
    past = (now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    resp = await c.post("/admin/polls/new", poll_form(closes_at=past, form_key="pollform0002"))
    assert resp.status == 400 and "结束时间" in resp.text and 'data-error-for="closes_at"' in resp.text
    resp = await c.post("/admin/polls/new", poll_form(closes_at="明天", form_key="pollform0003"))
    assert resp.status == 400 and 'data-error-for="closes_at"' in resp.text
    resp = await c.api("POST", "/api/admin/polls", {"title": "", "options": []})
    assert resp.status == 400 and resp.json["code"] == "invalid_field" and resp.json["message"]
    assert await deps.db.polls.count_documents({}) == 0


async def test_city_editor_is_refused_other_cities_and_province_polls(client: Client, deps: Deps) -> None:
    qingdao = await make_poll(deps, org=CITY_B, title="青岛投票")
    province = await make_poll(deps, org="370000", title="全省投票")
    c = await client("jn_polls3", org=CITY_A, role="editor")
    before, before_polls = await audit_count(deps), await deps.db.polls.find({}).to_list()
    for poll in (qingdao, province):
        pid = poll["_id"]
        for path in (f"/admin/polls/{pid}", f"/admin/polls/{pid}/export.csv", f"/admin/polls/{pid}/export.xlsx"):
            assert (await c.get(path)).status in (403, 404), path
        assert (await c.post(f"/admin/polls/{pid}", {"action": "close"})).status in (403, 404)
        for method, path, body in (
            ("GET", f"/api/admin/polls/{pid}", None),
            ("GET", f"/api/admin/polls/{pid}/results", None),
            ("PATCH", f"/api/admin/polls/{pid}", {"title": "改"}),
            ("POST", f"/api/admin/polls/{pid}/close", {}),
        ):
            resp = await c.api(method, path, body)
            assert resp.status in (403, 404) and resp.json["code"] and resp.json["message"], (method, path)
    listing = await c.api("GET", "/api/admin/polls")
    assert listing.json["items"] == []
    assert "青岛投票" not in (await c.get("/admin/polls")).text
    # creating a poll for another city is refused too
    resp = await c.api(
        "POST",
        "/api/admin/polls",
        {
            "title": "越权",
            "org": CITY_B,
            "options": [{"title": "a"}, {"title": "b"}],
            "closes_at": (now() + timedelta(days=1)).isoformat(),
        },
    )
    assert resp.status in (403, 404)
    assert await deps.db.polls.find({}).to_list() == before_polls
    assert await audit_count(deps) == before


async def test_viewer_sees_results_but_cannot_change(client: Client, deps: Deps) -> None:
    poll = await make_poll(deps, org=CITY_A)
    v = await client("jn_viewer", org=CITY_A, role="viewer")
    assert (await v.get(f"/admin/polls/{poll['_id']}")).status == 200
    assert (await v.post(f"/admin/polls/{poll['_id']}", {"action": "close"})).status == 403
    assert (await deps.db.polls.find_one({"_id": poll["_id"]}))["status"] == "published"
