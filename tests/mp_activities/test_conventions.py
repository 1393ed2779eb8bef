"""One API convention: every list pages with `cursor` in and `next_cursor` out (the old `before` /
`next` still work for one release); a survey submission retried with its Idempotency-Key counts once."""

from __future__ import annotations

from urllib.parse import quote

from core.deps import Deps
from tests.mp.conftest import MpClient
from tests.mp_activities.conftest import FORM, GOOD_ANSWERS, activity_def
from tests.mp_activities.test_api import province_activity, province_survey


async def _walk(mp: MpClient, path: str, token: str, param: str = "cursor", out: str = "next_cursor") -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "?limit=2" + (f"&{param}={quote(cursor)}" if cursor else "")  # an opaque value, encoded
        code, page = await mp.call("GET", path + query, token=token)
        assert code == 200, page
        seen += [i["id"] for i in page["items"]]
        cursor = page[out]
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")


async def test_every_list_pages_with_cursor_and_next_cursor(deps: Deps, mp: MpClient) -> None:
    surveys = [await province_survey(deps, title=f"问卷{i}") for i in range(5)]
    activities = [await province_activity(deps, activity_def(title=f"活动{i}")) for i in range(5)]
    token = await mp.login("o_pager")
    assert sorted(await _walk(mp, "/api/mp/surveys", token)) == sorted(surveys)
    assert sorted(await _walk(mp, "/api/mp/activities", token)) == sorted(activities)
    # The deprecated spelling walks the same pages.
    assert sorted(await _walk(mp, "/api/mp/surveys", token, "before", "next")) == sorted(surveys)
    # My sign-ups, newest first, five of them over three pages, none twice.
    for aid in activities:
        code, detail = await mp.call("GET", f"/api/mp/activities/{aid}", token=token)
        session = detail["sessions"][0]["id"]
        code, _ = await mp.call(
            "POST", f"/api/mp/activities/{aid}/signups", {"session_id": session, "form": FORM}, token
        )
        assert code == 201
    mine = await _walk(mp, "/api/mp/signups", token)
    assert len(mine) == 5 and len(set(mine)) == 5
    code, err = await mp.call("GET", "/api/mp/signups?cursor=nonsense", token=token)
    assert code == 400 and err["code"] == "invalid_cursor"


async def test_a_survey_submission_retried_with_its_key_counts_once(deps: Deps, mp: MpClient) -> None:
    sid = await province_survey(deps)
    token = await mp.login("o_retry")
    headers = {"Idempotency-Key": "retry-key-0001", "Authorization": f"Bearer {token}"}
    body = {"answers": GOOD_ANSWERS}
    first = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", body, headers=headers)
    again = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", body, headers=headers)
    assert first[0] == 201 and again[0] == 200 and again[1]["id"] == first[1]["id"]
    assert await deps.db.survey_responses.count_documents({"survey_id": sid}) == 1
    bad = {"Idempotency-Key": "short", "Authorization": f"Bearer {token}"}
    code, err = await mp.call("POST", f"/api/mp/surveys/{sid}/responses", body, headers=bad)
    assert code == 400 and err["code"] == "invalid_idempotency_key"
