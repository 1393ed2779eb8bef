"""Audiences: all (bounded by the editor's org), tags, orgs (subtree), members by filter, uploaded lists."""

from __future__ import annotations

import asyncio

import pytest

from core import clock
from core.deps import Deps
from core.errors import BadInput, NotFound
from services.followers import roster, roster_live
from services.pushes import audiences
from services.pushes import compose as pushes
from services.pushes import trial_and_uploads as push_tools
from services.pushes.fanout import Fanout
from tests.pushes.conftest import JINAN, PROVINCE, QINGDAO, TEMPLATE, ids, records, seed_followers, send_now, wait_run

LIXIA = "370102"  # a county of Jinan


@pytest.fixture(params=["roster", "db"])
async def source(request: pytest.FixtureRequest, deps: Deps) -> str:
    """Where a push to orgs' followers is cut from: the followers' roster in Redis once built, MongoDB
    while it is being rebuilt (its lock held here, so the service's background turn waits)."""
    await roster_live.forget(deps.redis)
    if request.param == "db":
        assert await roster_live.claim_rebuild(deps.redis, 600)
    else:
        while not await roster.ready(deps.redis):
            await roster.rebuild_roster(deps.db, deps.redis)
            await asyncio.sleep(0.05)
    return str(request.param)


async def cut_from(deps: Deps, push_id: str) -> str:
    run = await deps.db.push_runs.find_one({"push": push_id})
    assert run is not None
    return str(run["snap"]["source"])


async def _world(deps: Deps, fake) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    people = {
        "jinan": ids("oJn", 6), "lixia": ids("oLx", 4), "qingdao": ids("oQd", 5), "tagged": ids("oTag", 3),
        "nowhere": ids("oNo", 2),
    }  # fmt: skip
    await seed_followers(deps, fake, people["jinan"], org_path=(PROVINCE, JINAN))
    await seed_followers(deps, fake, people["lixia"], org_path=(PROVINCE, JINAN, LIXIA))
    await seed_followers(deps, fake, people["qingdao"], org_path=(PROVINCE, QINGDAO))
    await seed_followers(deps, fake, people["tagged"], org_path=(PROVINCE, QINGDAO), tags=(7,))
    await seed_followers(deps, fake, people["nowhere"], org_path=(PROVINCE,))
    await deps.db.followers.insert_one({"_id": "oGone0001", "subscribed": False, "unsubscribed_at": clock.now()})
    return people


async def _sent_to(deps: Deps, data: dict, org: str, source: str = "db") -> set[str]:  # type: ignore[type-arg]
    push_id = await send_now(deps, data, org=org)
    await wait_run(deps, push_id)
    assert await cut_from(deps, push_id) == source
    return {o for o, r in (await records(deps, push_id)).items() if r["status"] == "sent"}


async def test_all_is_bounded_by_the_editors_org(deps: Deps, fake_wechat, fan: Fanout, source: str) -> None:
    people = await _world(deps, fake_wechat)
    # what the editor confirms before sending, counted in the roster or in MongoDB: the same
    assert await audiences.estimate(deps.db, deps.redis, {"kind": "all"}, JINAN) == 10
    assert await audiences.estimate(deps.db, deps.redis, {"kind": "all"}, PROVINCE) == 20
    assert await audiences.estimate(deps.db, deps.redis, {"kind": "orgs", "orgs": [LIXIA]}, JINAN) == 4
    assert await _sent_to(deps, TEMPLATE, JINAN, source) == set(people["jinan"] + people["lixia"])
    everyone = set().union(*people.values())
    assert await _sent_to(deps, TEMPLATE, PROVINCE, source) == everyone  # never the one who left


async def test_tags_and_orgs(deps: Deps, fake_wechat, fan: Fanout, source: str) -> None:
    people = await _world(deps, fake_wechat)
    tags = {**TEMPLATE, "audience": {"kind": "tags", "tags": [7]}}
    assert await _sent_to(deps, tags, PROVINCE) == set(people["tagged"])  # tags: always MongoDB
    with pytest.raises(BadInput, match="没有可接收消息的人"):  # tag 7 lives in Qingdao: nobody to send to
        await _sent_to(deps, tags, JINAN)
    orgs = {**TEMPLATE, "audience": {"kind": "orgs", "orgs": [LIXIA, QINGDAO, JINAN]}}  # Lixia lies in Jinan
    expected = set(people["jinan"] + people["lixia"] + people["qingdao"] + people["tagged"])
    assert await _sent_to(deps, orgs, PROVINCE, source) == expected
    with pytest.raises(BadInput, match="不在您管理的范围内"):
        await pushes.create(deps, {**TEMPLATE, "audience": {"kind": "orgs", "orgs": [QINGDAO]}}, editor_org=JINAN,
                            editor="jinan-editor")  # fmt: skip


async def test_members_by_filter(deps: Deps, fake_wechat, fan: Fanout) -> None:
    people = await _world(deps, fake_wechat)
    now = clock.now()
    roster = [("M001", (PROVINCE, JINAN), people["qingdao"][0]), ("M002", (PROVINCE, JINAN, LIXIA), people["jinan"][0]),
              ("M003", (PROVINCE, QINGDAO), people["lixia"][0]), ("M004", (PROVINCE, JINAN), None)]  # fmt: skip
    for no, path, follower in roster:
        await deps.db.members.insert_one({"_id": no, "name": "张三", "phone": "13800000000", "org": path[-1],
                                          "org_path": list(path), "imported_at": now})  # fmt: skip
        if follower:
            bound = {"member_id": no, "org": path[-1], "org_path": list(path)}  # as binding stores it
            await deps.db.mini_users.insert_one({"_id": f"mp_{no}", **bound, "follower_openid": follower,
                                                 "created_at": now})  # fmt: skip
    members = {**TEMPLATE, "audience": {"kind": "members", "filter": {}}}
    # The member's org (the roster) decides, not where the follower scanned in.
    assert await _sent_to(deps, members, JINAN) == {people["qingdao"][0], people["jinan"][0]}
    listed = {**TEMPLATE, "audience": {"kind": "members", "filter": {"member_nos": ["M002", "M003", "M004"]}}}
    assert await _sent_to(deps, listed, JINAN) == {people["jinan"][0]}  # M003 is Qingdao's, M004 not linked


async def test_uploaded_list(deps: Deps, fake_wechat, fan: Fanout) -> None:
    people = await _world(deps, fake_wechat)
    text = "openid\n" + "\n".join([*people["lixia"], people["qingdao"][0], "oGone0001", "bad id!", people["lixia"][0]])
    up = await push_tools.upload_openids(deps, text.encode(), editor_org=JINAN, editor="jinan-editor")
    assert (up["count"], up["duplicates"], [e["line"] for e in up["invalid"]]) == (6, 1, [8])
    push_id = await send_now(
        deps, {**TEMPLATE, "audience": {"kind": "openids", "upload_id": up["upload_id"]}}, org=JINAN
    )
    await wait_run(deps, push_id)
    recs = await records(deps, push_id)
    assert {o for o, r in recs.items() if r["status"] == "sent"} == set(people["lixia"])
    assert recs[people["qingdao"][0]]["reason"] == "不在本单位关注者范围内"
    assert recs["oGone0001"]["reason"] == "用户已取消关注"
    with pytest.raises(BadInput, match="名单不存在或不属于本单位"):  # Qingdao cannot use Jinan's list
        await pushes.create(deps, {**TEMPLATE, "audience": {"kind": "openids", "upload_id": up["upload_id"]}},
                            editor_org=QINGDAO, editor="qingdao-editor")  # fmt: skip
    with pytest.raises(NotFound):
        await pushes.get(deps, push_id, editor_org=QINGDAO)
