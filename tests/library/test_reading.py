"""E-reading: positions only move forward (unless 回到此处), minutes capped at 240 a day, rankings by org."""

from __future__ import annotations

import asyncio

from core.deps import Deps
from services.library import reading
from tests.library.conftest import QINGDAO_PATH, reader
from tests.mp.conftest import MpClient


async def test_an_older_device_cannot_move_the_position_back(deps: Deps) -> None:
    me = reader("o_reader")
    assert (await reading.save_position(deps, me, "ebook-1", 5, 1200, False))["moved"]
    stale = await reading.save_position(deps, me, "ebook-1", 3, 99999, False)  # the phone left at chapter 3
    assert (stale["chapter"], stale["offset"], stale["moved"]) == (5, 1200, False)
    back = await reading.save_position(deps, me, "ebook-1", 3, 10, True)  # 回到此处
    assert (back["chapter"], back["offset"], back["moved"]) == (3, 10, True)


async def test_minutes_are_capped_at_240_a_day_even_when_reported_at_once(deps: Deps) -> None:
    me = reader("o_reader")
    results = await asyncio.gather(*(reading.add_minutes(deps, me, "ebook-1", 30) for _ in range(12)))
    assert sum(r["added"] for r in results) == 240 and max(r["today"] for r in results) == 240
    day = await deps.db.library_reading_days.find_one({"openid": "o_reader"})
    assert day["minutes"] == 240


async def test_rankings_by_org_and_chinese_4xx(deps: Deps, mp: MpClient) -> None:
    await reading.add_minutes(deps, reader("o_a"), "b", 30)
    await reading.add_minutes(deps, reader("o_b"), "b", 20)
    await reading.add_minutes(deps, reader("o_c", QINGDAO_PATH), "b", 25)
    ranks = await reading.rankings(deps, reader("o_a"), "370000", 30)
    assert [(r["org"], r["minutes"], r["readers"]) for r in ranks["items"]] == [("370100", 50, 2), ("370200", 25, 1)]
    token = await mp.login("o_api")
    code, err = await mp.call("PUT", "/api/mp/library/ebooks/b1/position", {"chapter": -1, "offset": 0}, token=token)
    assert code == 400 and err["message"]
    code, err = await mp.call("POST", "/api/mp/library/holds", {"isbn": "9787536692931"}, token=token)
    assert code == 400 and "校验位" in err["message"]
    code, err = await mp.call("POST", "/api/mp/library/holds", {"isbn": "9787536692930"}, token=token)
    assert code == 404 and "没有这本书" in err["message"]
    code, ok = await mp.call("PUT", "/api/mp/library/ebooks/b1/position", {"chapter": 2, "offset": 7}, token=token)
    assert code == 200 and ok == {"book": "b1", "chapter": 2, "offset": 7, "moved": True}
    retry = {"Idempotency-Key": "report-0001"}
    for _ in range(2):  # a timed-out report retried with the same key counts once
        code, got = await mp.call(
            "POST", "/api/mp/library/ebooks/b1/minutes", {"minutes": 10}, token=token, headers=retry
        )
        assert code == 200 and got == {"added": 10, "today": 10, "cap": 240}
