"""At the 书屋: keepers scan the worker's code to lend, returns elsewhere are transfers, renewals, reminders."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp

from core.clock import now
from core.deps import Deps
from services.library import borrowing, counter, jobs, rooms
from tests.console.conftest import Client, ConsoleClient
from tests.learning.conftest import scope
from tests.library.conftest import QINGDAO_PATH, SANTI, reader, room, sheet, stocked
from tests.mp.conftest import MpClient


async def upload(c: ConsoleClient, room_id: str, data: bytes, name: str) -> Any:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="text/csv")
    return await c.request("POST", f"/api/admin/library/rooms/{room_id}/import", data=form,
                           headers={"X-XSRFToken": c.csrf})  # fmt: skip


async def test_keeper_lends_by_code_and_a_return_elsewhere_is_a_transfer(
    deps: Deps, client: Client, mp: MpClient
) -> None:
    editor = await client("jinan_ed", org="370100", role="editor")
    new_room = {"org": "370102", "name": "历下区职工书屋", "address": "历下区泉城路 1 号", "hours": "9-17"}
    resp = await editor.api("POST", "/api/admin/library/rooms", new_room)
    assert resp.status == 201, resp.text
    lixia = resp.json["id"]
    bad = await upload(
        editor, lixia, sheet([[SANTI, "三体", "刘慈欣", "", 1], ["9787536692931", "坏书号", "", "", 1]]), "b.csv"
    )
    assert bad.status == 400 and "第 3 行" in bad.json["message"] and "校验位" in bad.json["message"]
    good = await upload(editor, lixia, sheet([[SANTI, "三体", "刘慈欣", "重庆出版社", 1]]), "b.csv")
    assert good.status == 200 and good.json == {"titles": 1, "new_copies": 1}
    again = await upload(editor, lixia, sheet([[SANTI, "三体", "刘慈欣", "重庆出版社", 1]]), "b.csv")
    assert again.json == {"titles": 1, "new_copies": 0}  # re-importing the sheet adds nothing
    tianqiao = await room(deps, "370100", "天桥区职工书屋")

    token = await mp.login("o_worker")  # a province-wide search: unbound workers have no city
    code, found = await mp.call("GET", "/api/mp/library/books?q=三体&reach=province", token=token)
    assert code == 200 and found["items"][0]["on_shelf"] == 1 and found["items"][0]["rooms"][0]["room"] == lixia
    code, hold = await mp.call("POST", "/api/mp/library/holds", {"isbn": SANTI, "reach": "province"}, token=token)
    assert code == 201 and hold["status"] == "held" and hold["room"] == lixia
    code, worker_code = await mp.call("GET", "/api/mp/library/code", token=token)
    assert code == 200 and worker_code["code"].startswith("L1.o_worker.")

    keeper = await client("lixia_keeper", org="370102", role="keeper")
    copy_id = f"{SANTI}-{lixia}-1"
    forged = worker_code["code"][:-2] + "xx"
    resp = await keeper.api("POST", f"/api/admin/library/rooms/{lixia}/lend", {"code": forged, "copy": copy_id})
    assert resp.status == 400 and "借书码无效" in resp.json["message"]
    resp = await keeper.api(
        "POST", f"/api/admin/library/rooms/{lixia}/lend", {"code": worker_code["code"], "copy": copy_id}
    )
    assert resp.status == 200, resp.text
    assert (await keeper.api("POST", "/api/admin/library/rooms", {"name": "x"})).status == 403  # keepers lend, not edit
    code, mine = await mp.call("GET", "/api/mp/library/mine", token=token)
    assert mine["holds"] == [] and mine["loans"][0]["copy"] == copy_id and not mine["loans"][0]["overdue"]

    # Someone else queues for the book; it is handed back at 天桥 (another 书屋) by a city editor.
    queued = await borrowing.place_hold(deps, reader("o_next"), SANTI, "city")
    assert queued["status"] == "waiting"
    code, err = await mp.call("POST", f"/api/mp/library/loans/{copy_id}/renew", token=token)
    assert code == 409 and "有人排队" in err["message"]
    resp = await editor.api("POST", f"/api/admin/library/rooms/{tianqiao}/return", {"copy": copy_id})
    assert resp.status == 200 and resp.json["transferred_from"] == lixia and resp.json["held_for_next_reader"]
    copy = await deps.db.library_copies.find_one({"_id": copy_id})
    assert copy["room"] == tianqiao and copy["status"] == "held" and copy["holder"] == "o_next"
    assert await deps.db.library_moves.count_documents({"kind": "return_elsewhere", "to": tianqiao}) == 1
    resp = await keeper.api("POST", f"/api/admin/library/rooms/{lixia}/return", {"copy": copy_id})
    assert resp.status == 404 and "借出记录" in resp.json["message"]
    actions = [d["action"] async for d in deps.db.audit_log.find({"target_type": "library_copy"}).sort("at", 1)]
    assert actions == ["lend", "return"]
    page = await editor.get("/admin/library")
    assert page.status == 200 and "历下区职工书屋" in page.text and "建议漂流" in page.text


async def test_renewals_are_limited_and_an_overdue_loan_gets_one_reminder(deps: Deps, fake_wechat: Any) -> None:
    r = await room(deps, "370102", "历下区职工书屋")
    await stocked(deps, r, [[SANTI, "三体", "刘慈欣", "", 1]])
    me = reader("o_borrower")
    code = counter.worker_code(deps, me.openid)["code"]
    await counter.lend(deps, scope(), r, code, f"{SANTI}-{r}-1")
    first = await borrowing.renew(deps, me, f"{SANTI}-{r}-1")
    second = await borrowing.renew(deps, me, f"{SANTI}-{r}-1")
    assert (first["renewals"], second["renewals"]) == (1, 2)
    try:
        await borrowing.renew(deps, me, f"{SANTI}-{r}-1")
        raise AssertionError("a third renewal must be refused")
    except Exception as exc:  # noqa: BLE001 - checking the refusal's words
        assert "最多续借 2 次" in str(exc)
    fake_wechat.state.auto_consent = True
    later = now() + timedelta(days=60)
    results = await asyncio.gather(jobs.remind_overdue(deps, later), jobs.remind_overdue(deps, later))
    assert sum(r["sent"] for r in results) == 1  # two instances, one reminder
    assert "借阅已到期" in str(fake_wechat.state.last_payload("subscribe", "o_borrower"))
    assert (await jobs.remind_overdue(deps, later + timedelta(days=1)))["sent"] == 0


async def test_suggested_transfer_moves_an_idle_copy_to_the_city_that_waits(deps: Deps) -> None:
    jinan, qingdao = await room(deps, "370102", "历下区职工书屋"), await room(deps, "370202", "市南区职工书屋")
    await stocked(deps, jinan, [[SANTI, "三体", "刘慈欣", "", 2]])
    await stocked(deps, qingdao, [[SANTI, "三体", "刘慈欣", "", 1]])
    qd = [reader(f"o_qd{i}", QINGDAO_PATH) for i in range(3)]
    for w in qd:
        await borrowing.place_hold(deps, w, SANTI, "city")  # one gets 市南's copy, two wait in 青岛
    waiting = await rooms.waiting(deps, scope())
    assert [(w["city"], w["waiting"]) for w in waiting] == [("370200", 2)]
    moves = await rooms.suggestions(deps, scope())
    assert {m["from_room"] for m in moves} == {jinan} and {m["to_room"] for m in moves} == {qingdao} and len(moves) == 2
    done = await rooms.confirm_transfer(deps, scope(), moves[0]["copy"], qingdao)
    assert done["held_for_next_reader"]
    assert len(await rooms.suggestions(deps, scope())) == 1
    assert await rooms.idle_titles(deps, scope()) == []  # just imported: not idle yet
    await deps.db.library_copies.update_many({}, {"$set": {"added_at": now() - timedelta(days=120)}})
    assert await rooms.idle_titles(deps, scope()) == [{"isbn": SANTI, "room": jinan, "idle_copies": 1}]
