"""One worker across the official account, the mini-program and the roster, through the real
callback, the mini-program API and the fake WeChat platform (which knows each person's unionid)."""

from __future__ import annotations

from typing import Any

import pytest

from core import clock
from core.deps import Deps
from core.errors import BadInput
from services.activities import venue
from services.followers import live as follower_live
from services.followers import roster
from services.members import binding
from services.members.roster import import_roster
from services.menus import live as menu_live
from services.people import linking
from services.replies import edit as bot_content_edit
from tests.mp.conftest import MpClient
from tests.mp.roster_files import HEADER, csv_bytes
from tests.mp_activities.conftest import FORM
from tests.mp_activities.test_checkin import make, soon
from tests.pushes.conftest import TEMPLATE, records, send_now, wait_run
from tests.wechat_bot.conftest import SimFactory
from tests.wechat_bot.test_content import content_of, rule, wait_for

QINGDAO = "370200"
TO_QINGDAO_MEMBERS = {**TEMPLATE, "audience": {"kind": "members", "filter": {"orgs": [QINGDAO]}}}


async def _answers(sim: Any, openid: str, text: str, expected: str) -> bool:
    return content_of(await sim.send_text(openid, text)) == expected


async def _roster(deps: Deps, row: list[str]) -> None:
    assert (await import_roster(deps, QINGDAO, csv_bytes([HEADER, row]), "roster.csv")).ok


async def _reached(deps: Deps, push: dict[str, Any]) -> set[str]:
    push_id = await send_now(deps, push)
    await wait_run(deps, push_id)
    return {o for o, r in (await records(deps, push_id)).items() if r["status"] == "sent"}


async def test_a_worker_is_one_person_across_account_mini_program_and_roster(
    deps: Deps, mp: MpClient, make_sim: SimFactory, fake_wechat: Any
) -> None:
    await _roster(deps, ["QD0001", "王青", "13700137001", QINGDAO])
    fake_wechat.state.add_followers(["o_oa_wang"], unionids={"o_oa_wang": "u_wang"})  # WeChat knows the person
    sim = make_sim("safe", "xml")
    await sim.send_event("o_oa_wang", "subscribe")  # found the account by search: no org yet
    follower = await deps.db.followers.find_one({"_id": "o_oa_wang"})
    assert follower is not None and "unionid" not in follower and "org" not in follower

    # The background look-up fills the unionid (user/info/batchget) and empties its queue.
    result = await linking.drain(deps)
    assert (result.looked_up, result.linked) == (1, 0)  # no mini-program user yet
    assert (await deps.db.followers.find_one({"_id": "o_oa_wang"}))["unionid"] == "u_wang"
    assert (await linking.drain(deps)).looked_up == 0

    # Logging in to the mini-program with the same WeChat identity links the two.
    token = await mp.login("o_mp_wang", unionid="u_wang")
    status, me = await mp.call("GET", "/api/mp/me", token=token)
    assert status == 200 and me["official_account_linked"] is True

    # Binding as a 青岛 member gives the follower the member's org: the city's content and menu.
    status, bound = await mp.call("POST", "/api/mp/members/bind", {"name": "王青", "phone": "13700137001"}, token)
    assert status == 200, bound
    follower = await deps.db.followers.find_one({"_id": "o_oa_wang"})
    assert follower["org"] == QINGDAO and follower["org_path"] == ["370000", QINGDAO]
    assert await deps.redis.hget(follower_live.org_key("o_oa_wang"), "o_oa_wang") == f"370000,{QINGDAO}"
    assert await deps.redis.sismember(menu_live.queue_key(menu_live.TAG, QINGDAO), "o_oa_wang")

    # The 青岛 keyword rule answers them now (their org came from membership, not a QR code).
    await bot_content_edit.save(
        deps.db, deps.redis, rule("", "exact", ["青岛"], 1, "岛城职工服务专区", org=QINGDAO), "qd"
    )
    await wait_for(lambda: _answers(sim, "o_oa_wang", "青岛", "岛城职工服务专区"))

    # Checked in at a venue by the account's check-in QR code (same person) and by the rotating code.
    aid = await make(deps, {**soon(capacity=5), "org": "370000"})
    status, signed = await mp.call(
        "POST", f"/api/mp/activities/{aid}/signups", {"session_id": "s1", "form": FORM}, token
    )
    assert status == 201, signed
    scanned = await sim.scan_qr("o_oa_wang", subscribed=True, scene=f"checkin:{aid}")
    assert scanned.reply is not None and "签到成功" in scanned.reply["Content"]
    code, _, _ = venue.rotating_code(deps, aid, "s1", clock.now())
    status, again = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": code}, token)
    assert status == 200 and again["status"] == "already_checked_in"  # one person, one check-in

    # A push to 按会员 · 青岛 reaches them; once unbound they are no longer in the member audience.
    assert await _reached(deps, TO_QINGDAO_MEMBERS) == {"o_oa_wang"}
    assert await binding.unbind(deps, "o_mp_wang")
    with pytest.raises(BadInput, match="没有可接收消息的人"):  # nobody left in that audience: refused
        await _reached(deps, TO_QINGDAO_MEMBERS)


async def test_a_member_who_logged_in_first_is_linked_when_their_follow_is_looked_up(
    deps: Deps, mp: MpClient, make_sim: SimFactory, fake_wechat: Any
) -> None:
    await _roster(deps, ["QD0002", "李青", "13700137002", QINGDAO])
    token = await mp.login("o_mp_li", unionid="u_li")
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "李青", "phone": "13700137002"}, token)
    assert status == 200
    fake_wechat.state.add_followers(["o_oa_li"], unionids={"o_oa_li": "u_li"})
    await make_sim("safe", "xml").send_event("o_oa_li", "subscribe")
    assert (await linking.drain(deps)).linked == 1
    assert (await deps.db.mini_users.find_one({"_id": "o_mp_li"}))["follower_openid"] == "o_oa_li"
    assert (await deps.db.followers.find_one({"_id": "o_oa_li"}))["org"] == QINGDAO
    status, me = await mp.call("GET", "/api/mp/me", token=token)
    assert me["official_account_linked"] is True


async def test_backfill_queues_older_followers_once_and_survives_a_quota_pause(deps: Deps, fake_wechat: Any) -> None:
    openids = [f"o_old{i:04d}" for i in range(250)]
    fake_wechat.state.add_followers(openids, unionids={o: f"u_{o}" for o in openids})
    await deps.db.followers.insert_many([{"_id": o, "subscribed": True, "tags": []} for o in openids])
    await deps.db.followers.insert_one({"_id": "o_gone", "subscribed": False})  # a tombstone is never queued
    await deps.db.followers.insert_one({"_id": "o_linked", "subscribed": True, "unionid": "u_linked"})
    await deps.redis.set("people:backfill", "o_old0099")  # a cursor of the earlier walk over MongoDB: restarts
    assert await linking.backfill_step(deps, step=100) == 0  # the roster is walked: wait until it is built
    await roster.rebuild_roster(deps.db, deps.redis)  # as every instance does at start
    assert await linking.backfill_step(deps, step=100) == 100
    assert await linking.backfill_step(deps, step=100) == 0  # the queue still holds a step's worth
    fake_wechat.state.inject("cgi-bin/user/info/batchget", 45009)  # daily quota spent
    paused = await linking.drain(deps)
    assert paused.waiting and paused.looked_up == 0
    assert (await linking.drain(deps)).looked_up == 100  # the batch waited in the queue, nothing lost
    while await linking.backfill_step(deps, step=100):
        await linking.drain(deps)
    await linking.drain(deps)
    missing = await deps.db.followers.count_documents({"subscribed": True, "unionid": {"$exists": False}})
    assert missing == 0
    assert fake_wechat.state.count("cgi-bin/user/info/batchget", errcode=0) == 3  # 250 looked up, once each
    assert await linking.backfill_step(deps, step=100) == 0  # done: it never walks the collection again
