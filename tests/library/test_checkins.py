"""阅读打卡 and reading campaigns: one check-in a day however often it is sent, a streak, and a
世界读书日 campaign's ranking per org below the organiser, through the real API and console."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.clock import now
from core.deps import Deps
from services.library import checkins
from tests.console.conftest import Client
from tests.library.conftest import JINAN_PATH, QINGDAO_PATH, reader
from tests.mp.conftest import MpClient


def test_a_streak_counts_consecutive_days_up_to_today_or_yesterday() -> None:
    assert checkins.streak(["20260423", "20260422", "20260420"], "20260423") == 2
    assert checkins.streak(["20260422", "20260421"], "20260423") == 2  # today not yet checked in
    assert checkins.streak(["20260420"], "20260423") == 0
    assert checkins.streak(["20260301", "20260228"], "20260301") == 2  # across a month end


async def test_checking_in_twice_a_day_counts_once(deps: Deps) -> None:
    worker = reader("o_reader_1")
    results = await asyncio.gather(*(checkins.check_in(deps, worker) for _ in range(10)))
    assert sum(r["new"] for r in results) == 1 and {r["streak"] for r in results} == {1}
    yesterday = (now() - timedelta(days=1)).strftime("%Y%m%d")
    day = {"_id": f"o_reader_1:{yesterday}", "openid": "o_reader_1", "day": yesterday, "org": JINAN_PATH[-1]}
    await deps.db.library_checkins.insert_one({**day, "org_path": list(JINAN_PATH)})
    again = await checkins.check_in(deps, worker)
    assert again["new"] is False and again["streak"] == 2 and again["total_days"] == 2


async def test_a_world_book_day_campaign_ranks_the_cities(deps: Deps, client: Client, mp: MpClient) -> None:
    editor = await client("prov_reading", org="370000", role="editor")
    today = now().date()
    body = {
        "title": "世界读书日",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=6)).isoformat(),
        "org": "370200",
    }  # an org in the body is ignored: the campaign belongs to the editor's working org
    created = await editor.api("POST", "/api/admin/library/campaigns", body)
    assert created.status == 201 and created.json["org"] == "370000", created.text
    bad = await editor.api("POST", "/api/admin/library/campaigns", {**body, "ends_on": "2020-01-01"})
    assert bad.status == 400 and "结束日期" in bad.json["message"]
    for openid, path in (("o_jn_1", JINAN_PATH), ("o_jn_2", JINAN_PATH), ("o_qd_1", QINGDAO_PATH)):
        await checkins.check_in(deps, reader(openid, path))
    token = await mp.login("o_campaign_viewer")
    status, active = await mp.call("GET", "/api/mp/library/campaigns", token=token)
    assert status == 200 and [c["title"] for c in active["items"]] == ["世界读书日"]
    status, ranking = await mp.call("GET", f"/api/mp/library/campaigns/{created.json['id']}/ranking", token=token)
    assert status == 200
    assert [(r["org"], r["readers"]) for r in ranking["items"]] == [("370100", 2), ("370200", 1)]
    status, _ = await mp.call("GET", "/api/mp/library/campaigns/rcnothere/ranking", token=token)
    assert status == 404
    status, mine = await mp.call("POST", "/api/mp/library/checkins", token=token)
    assert status == 200 and mine["new"] is True and mine["streak"] == 1
