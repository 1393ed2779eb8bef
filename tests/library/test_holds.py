"""Holds: one guarded update per copy, a queue across every 书屋, expiry back to the queue or the shelf."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound, TooMany
from services.library import borrowing, jobs
from tests.library.conftest import HUOZHE, HUOZHE13, QINGDAO_PATH, SANTI, reader, room, stocked


async def test_200_concurrent_holds_on_one_copy_make_exactly_one_hold(deps: Deps) -> None:
    r = await room(deps, "370102", "历下区职工书屋")
    await stocked(deps, r, [[SANTI, "三体", "刘慈欣", "重庆出版社", 1]])
    results = await asyncio.gather(
        *(borrowing.place_hold(deps, reader(f"o_r{i:03d}"), SANTI, "city") for i in range(200))
    )
    held = [x for x in results if x["status"] == "held"]
    assert len(held) == 1 and sum(x["status"] == "waiting" for x in results) == 199
    copy = await deps.db.library_copies.find_one({"isbn": SANTI})
    winner = await deps.db.library_holds.find_one({"status": "held"})
    assert copy["status"] == "held" and copy["holder"] == winner["openid"] and copy["hold_id"] == winner["_id"]
    positions = sorted(x["queue_position"] for x in results if x["status"] == "waiting")
    assert positions[0] == 1 and positions[-1] <= 199


async def test_limits_and_chinese_refusals(deps: Deps) -> None:
    r = await room(deps, "370102", "历下区职工书屋")
    books = [
        [SANTI, "三体", "刘慈欣", "", 2],
        [HUOZHE, "活着", "余华", "", 1],
        ["9787020002207", "红楼梦", "曹雪芹", "", 1],
        ["9787544253994", "百年孤独", "马尔克斯", "", 1],
    ]
    await stocked(deps, r, books)
    me = reader("o_limit")
    await borrowing.place_hold(deps, me, SANTI, "city")
    with pytest.raises(Conflict, match="已预约过"):
        await borrowing.place_hold(deps, me, SANTI, "city")
    await borrowing.place_hold(deps, me, HUOZHE13, "city")
    await borrowing.place_hold(deps, me, "9787020002207", "city")
    with pytest.raises(TooMany, match="最多同时预约 3 本"):
        await borrowing.place_hold(deps, me, "9787544253994", "city")
    with pytest.raises(BadInput, match="校验位"):
        await borrowing.place_hold(deps, me, "9787536692931", "city")
    with pytest.raises(NotFound, match="范围内的书屋没有这本书"):
        await borrowing.place_hold(deps, reader("o_qd", QINGDAO_PATH), SANTI, "city")
    qd = await borrowing.place_hold(deps, reader("o_qd", QINGDAO_PATH), SANTI, "province")
    assert qd["status"] == "held" and qd["room"] == r  # the second copy, in 济南, from the province-wide search


async def test_an_uncollected_hold_passes_to_the_next_in_the_queue_then_the_shelf(deps: Deps) -> None:
    r = await room(deps, "370102", "历下区职工书屋")
    await stocked(deps, r, [[SANTI, "三体", "刘慈欣", "", 1]])
    first = await borrowing.place_hold(deps, reader("o_first"), SANTI, "city")
    second = await borrowing.place_hold(deps, reader("o_second"), SANTI, "city")
    assert (first["status"], second["status"], second["queue_position"]) == ("held", "waiting", 1)
    assert await jobs.expire_holds(deps, now() + timedelta(hours=47)) == 0
    assert await jobs.expire_holds(deps, now() + timedelta(hours=49)) == 1
    mine = await borrowing.mine(deps, reader("o_second"))
    assert mine["holds"][0]["status"] == "held" and mine["holds"][0]["copy"] == f"{SANTI}-{r}-1"
    assert (await borrowing.mine(deps, reader("o_first")))["holds"] == []
    assert await jobs.expire_holds(deps, now() + timedelta(hours=47)) == 0  # the new hold runs 48 h from now
    later = now() + timedelta(hours=49)  # nobody waits now: two instances free the copy once
    assert sum(await asyncio.gather(jobs.expire_holds(deps, later), jobs.expire_holds(deps, later))) == 1
    copy = await deps.db.library_copies.find_one({"_id": f"{SANTI}-{r}-1"})
    assert copy["status"] == "on_shelf" and copy["holder"] is None
    assert await deps.db.library_patrons.count_documents({"holds": {"$gt": 0}}) == 0


async def test_cancelling_a_held_copy_gives_it_to_the_queue(deps: Deps) -> None:
    r = await room(deps, "370102", "历下区职工书屋")
    await stocked(deps, r, [[SANTI, "三体", "刘慈欣", "", 1]])
    await borrowing.place_hold(deps, reader("o_a"), SANTI, "city")
    await borrowing.place_hold(deps, reader("o_b"), SANTI, "city")
    await borrowing.cancel_hold(deps, reader("o_a"), SANTI)
    assert (await borrowing.mine(deps, reader("o_b")))["holds"][0]["status"] == "held"
    with pytest.raises(NotFound):
        await borrowing.cancel_hold(deps, reader("o_a"), SANTI)


async def test_an_excel_sheet_imports_like_a_csv_and_isbn_10_becomes_13(deps: Deps) -> None:
    from services.library import rooms
    from tests.learning.conftest import scope
    from tests.mp.roster_files import xlsx_bytes

    r = await room(deps, "370102", "历下区职工书屋")
    data = xlsx_bytes([["ISBN", "书名", "作者", "出版社", "册数"], [HUOZHE, "活着", "余华", "作家出版社", 2]])
    assert await rooms.import_copies(deps, scope(), r, data, "图书.xlsx") == {"titles": 1, "new_copies": 2}
    title = await deps.db.library_titles.find_one({"_id": HUOZHE13})
    assert title["title"] == "活着" and await deps.db.library_copies.count_documents({"isbn": HUOZHE13}) == 2
