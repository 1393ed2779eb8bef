"""Followers: follow with time and scene, org binding by QR code, check-in scenes, last interaction,
and leaving — after which nothing personal remains, only the per-org counts."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from core import clock
from core.deps import Deps
from services.followers import following as followers
from services.followers import live as follower_live
from services.followers import store as follower_store
from services.menus import city_tags as follower_tags
from services.menus import live as menu_live
from tests.wechat_bot.conftest import SimFactory
from tools.fake_wechat import FakeWeChatServer
from wechat_bot import hooks


async def follower(deps: Deps, openid: str) -> dict[str, Any]:
    doc = await deps.db.followers.find_one({"_id": openid})
    assert doc is not None, f"no follower document for {openid}"
    return doc


async def test_follow_records_time_scene_and_org(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("safe")
    before = clock.now()
    result = await sim.send_event("o_f_org", "subscribe", EventKey="qrscene_org:370102", Ticket="tk")
    assert result.reply is not None
    doc = await follower(deps, "o_f_org")
    assert doc["subscribed"] is True and doc["scene"] == "org:370102"
    assert doc["org"] == "370102" and doc["org_path"] == ["370000", "370100", "370102"]
    assert before - timedelta(seconds=1) <= doc["subscribed_at"] <= clock.now()
    assert await deps.redis.hget(follower_live.org_key("o_f_org"), "o_f_org") == "370000,370100,370102"
    assert "历下区" in result.reply["Content"]  # "您已关联到“历下区总工会”" (the seeded county union's name)


async def test_scan_binds_and_unknown_org_says_so(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("plain")
    await sim.send_event("o_f_scan", "subscribe")
    r = await sim.send_event("o_f_scan", "SCAN", EventKey="org:371000", Ticket="tk")
    assert r.reply is not None and "威海市总工会" in r.reply["Content"]
    assert (await follower(deps, "o_f_scan"))["org"] == "371000"
    r = await sim.send_event("o_f_scan", "SCAN", EventKey="org:999999", Ticket="tk2")
    assert r.reply is not None and "暂未开通" in r.reply["Content"]
    assert (await follower(deps, "o_f_scan"))["org"] == "371000"  # unchanged


async def test_checkin_scene_goes_to_the_activities_checkin(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("safe", "json")
    r = await sim.send_event("o_f_ci", "SCAN", EventKey="checkin:no-such-activity", Ticket="tk")
    assert r.reply is not None and r.reply["Content"] == "未找到该活动，请确认扫描的是现场的签到二维码。"

    async def checkin(openid: str, activity_id: str) -> str:
        return f"{openid} 已在活动 {activity_id} 签到"

    hooks.register_checkin(deps, checkin)
    r = await sim.send_event("o_f_ci", "SCAN", EventKey="checkin:a2", Ticket="tk")
    assert r.reply is not None and r.reply["Content"] == "o_f_ci 已在活动 a2 签到"
    r = await sim.send_event("o_f_ci2", "subscribe", EventKey="qrscene_checkin:a3", Ticket="tk")
    assert r.reply is not None and r.reply["Content"].endswith("o_f_ci2 已在活动 a3 签到")
    assert "欢迎关注" in r.reply["Content"]


async def test_last_interaction_reaches_mongodb(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("plain")
    await sim.send(sim.template_finished("o_f_report", 1, "success"))  # not the worker's doing
    await sim.send_text("o_f_seen", "你好")
    await followers.flush_seen(deps.db, deps.redis, "test")  # (or the housekeeping loop is doing it)
    for _ in range(40):
        doc = await deps.db.followers.find_one({"_id": "o_f_seen"})
        if doc is not None:
            break
        await asyncio.sleep(0.05)
    assert doc is not None and abs(doc["last_interaction_at"].timestamp() - time.time()) < 5
    assert await deps.db.followers.find_one({"_id": "o_f_report"}) is None
    assert await deps.redis.hget(follower_live.seen_key("o_f_report"), "o_f_report") is None


async def test_a_large_seen_batch_reaches_mongodb_whole_and_only_moves_forward(deps: Deps) -> None:
    # More followers than one write chunk: every one lands, and an older time never wins.
    now = time.time()
    many = {f"o_f_many_{i:04d}": str(now - i) for i in range(follower_store.TOUCH_CHUNK * 2 + 7)}
    for openid, at in many.items():
        await deps.redis.hset(follower_live.seen_key(openid), openid, at)
    assert await followers.flush_seen(deps.db, deps.redis, "test") >= len(many)
    stored = await deps.db.followers.count_documents({"_id": {"$regex": "^o_f_many_"}})
    assert stored == len(many)
    await deps.redis.hset(follower_live.seen_key("o_f_many_0000"), "o_f_many_0000", str(now - 86400))
    await followers.flush_seen(deps.db, deps.redis, "test")
    doc = await follower(deps, "o_f_many_0000")
    assert abs(doc["last_interaction_at"].timestamp() - now) < 1


async def test_leaving_deletes_personal_data_keeps_counts(make_sim: SimFactory, deps: Deps) -> None:
    forgotten: list[str] = []

    async def other_feature_forgets(openid: str) -> None:
        forgotten.append(openid)

    hooks.on_unfollow(deps, other_feature_forgets)
    sim = make_sim("safe")
    who = "o_f_leaver"
    await sim.send_event(who, "subscribe", EventKey="qrscene_org:370800")
    await sim.send(sim.location(who, 35.41, 116.59))
    await sim.send_text(who, "法律")
    await deps.db.followers.update_one({"_id": who}, {"$set": {"tags": [2, 101], "unionid": "u_leaver"}})
    doc = await follower(deps, who)
    assert doc["location"]["coordinates"] == [116.59, 35.41] and doc["org"] == "370800"

    assert (await sim.send_event(who, "unsubscribe")).text == "success"
    doc = await follower(deps, who)
    assert set(doc) == {"_id", "subscribed", "unsubscribed_at"} and doc["subscribed"] is False
    assert await deps.redis.hget(follower_live.org_key(who), who) is None
    assert await deps.redis.hget(follower_live.seen_key(who), who) is None
    assert forgotten == [who]
    assert await follower_store.stats(deps.db, "370800") == {"subscribes": 1, "unsubscribes": 1}

    # A late location report or a flush of an older interaction must not bring anything back.
    await sim.send(sim.event(who, "LOCATION", Latitude=35.4, Longitude=116.6, Precision=10))
    await deps.redis.hset(follower_live.seen_key(who), who, str(time.time()))
    await followers.flush_seen(deps.db, deps.redis, "test")
    doc = await follower(deps, who)
    assert set(doc) == {"_id", "subscribed", "unsubscribed_at"}

    # Coming back is a fresh start, counted again.
    await sim.send_event(who, "subscribe")
    doc = await follower(deps, who)
    assert doc["subscribed"] is True and "org" not in doc and "location" not in doc
    stats = await follower_store.stats(deps.db, "370000")
    assert stats["subscribes"] == 1


async def test_org_cache_is_rebuilt_when_redis_lost_it(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("plain")
    await sim.send_event("o_f_cache", "subscribe", EventKey="qrscene_org:371300")
    await follower_live.forget_org_cache(deps.redis)
    assert await followers.rebuild_org_cache(deps.db, deps.redis) >= 1
    assert await deps.redis.hget(follower_live.org_key("o_f_cache"), "o_f_cache") == "370000,371300"
    assert await followers.rebuild_org_cache(deps.db, deps.redis) == 0  # built: nothing to do


async def test_followers_binding_by_qr_get_their_citys_menu_tag(
    make_sim: SimFactory, deps: Deps, fake_wechat: FakeWeChatServer
) -> None:
    # Ji'nan published a conditional menu (its tag exists); Qingdao has none.
    state = fake_wechat.state
    tag_id = await deps.oa.tag_create("济南市总工会关注者")
    await deps.db.menus.insert_one({"_id": "370100", "tag": {"id": tag_id, "name": "济南市总工会关注者"}})
    who = ["o_t_county", "o_t_scan", "o_t_qingdao", "o_t_plain"]
    state.add_followers(who)
    sim = make_sim("safe")
    await sim.send_event("o_t_county", "subscribe", EventKey="qrscene_org:370102")  # a county of Ji'nan
    await sim.send_event("o_t_scan", "SCAN", EventKey="org:370100")
    await sim.send_event("o_t_qingdao", "subscribe", EventKey="qrscene_org:370200")
    await sim.send_event("o_t_plain", "subscribe")  # no QR code: the province's menu
    await follower_tags.drain(deps)  # (the bot's housekeeping does this every few seconds)
    assert tag_id in state.followers.tags_of("o_t_county") and tag_id in state.followers.tags_of("o_t_scan")
    assert tag_id not in state.followers.tags_of("o_t_qingdao") and not state.followers.tags_of("o_t_plain")
    assert tag_id in (await follower(deps, "o_t_county"))["tags"]
    assert (
        await deps.redis.smembers(menu_live.cities_key(follower_tags.TAG)) == set()
    )  # both queues drained, Qingdao's dropped


async def test_tagging_waits_out_a_quota_error(make_sim: SimFactory, deps: Deps, fake_wechat: FakeWeChatServer) -> None:
    state = fake_wechat.state
    tag_id = await deps.oa.tag_create("济南市总工会关注者")
    await deps.db.menus.insert_one({"_id": "370100", "tag": {"id": tag_id, "name": "济南市总工会关注者"}})
    state.add_followers(["o_t_quota"])
    await make_sim("plain").send_event("o_t_quota", "SCAN", EventKey="org:370100")
    state.inject("cgi-bin/tags/members/batchtagging", 45009)  # today's quota is used up
    assert await follower_tags.drain(deps) == 0
    assert tag_id not in state.followers.tags_of("o_t_quota")
    assert await follower_tags.drain(deps) == 1  # next round: tagged, nothing lost
    assert tag_id in state.followers.tags_of("o_t_quota")


async def test_moving_to_another_city_swaps_the_menu_tag(
    make_sim: SimFactory, deps: Deps, fake_wechat: FakeWeChatServer
) -> None:
    state = fake_wechat.state
    jinan = await deps.oa.tag_create("济南市总工会关注者")
    qingdao = await deps.oa.tag_create("青岛市总工会关注者")
    await deps.db.menus.insert_many(
        [{"_id": "370100", "tag": {"id": jinan}}, {"_id": "370200", "tag": {"id": qingdao}}]
    )
    state.add_followers(["o_t_mover", "o_t_stay"])
    sim = make_sim("plain")
    await sim.send_event("o_t_mover", "subscribe", EventKey="qrscene_org:370102")
    await sim.send_event("o_t_stay", "subscribe", EventKey="qrscene_org:370100")
    await follower_tags.drain(deps)
    assert jinan in state.followers.tags_of("o_t_mover")
    await sim.send_event("o_t_mover", "SCAN", EventKey="org:370200")  # moved to Qingdao
    await sim.send_event("o_t_stay", "SCAN", EventKey="org:370102")  # a county of the same city: nothing to do
    assert await follower_tags.drain(deps) == 2  # one untag, one tag
    assert state.followers.tags_of("o_t_mover") == [qingdao]
    assert (await follower(deps, "o_t_mover"))["tags"] == [qingdao]
    assert state.followers.tags_of("o_t_stay") == [jinan]


async def test_template_reports_are_queued_for_the_push_feature(make_sim: SimFactory, deps: Deps) -> None:
    from services.pushes import receipts_live

    reply = await make_sim("safe").send(make_sim("safe").template_finished("o_f_tpl", 424242, "failed:user block"))
    assert reply.text == "success"
    assert await receipts_live.queued_reports(deps.redis) == [{"m": "424242", "o": "o_f_tpl", "s": "failed:user block"}]


async def test_subscribe_notice_reports_are_queued_for_the_push_feature(make_sim: SimFactory, deps: Deps) -> None:
    from services.pushes import receipts_live

    notices = [("TPL_VOTE", 7001, "success"), ("TPL_SIGNUP", 7002, "failed:user block")]
    for fmt in ("xml", "json"):  # XML repeats <List>; JSON has an array
        sim = make_sim("safe", fmt)
        assert (await sim.send(sim.subscribe_sent(f"o_f_sub_{fmt}", notices))).text == "success"
    entries = await receipts_live.queued_reports(deps.redis)
    assert sorted(entries, key=lambda f: (f["o"], f["m"])) == sorted([
        {"k": "sub", "m": f"s:{t}:o_f_sub_{fmt}", "o": f"o_f_sub_{fmt}", "s": s}
        for fmt in ("xml", "json") for t, _, s in notices
    ], key=lambda f: (f["o"], f["m"]))  # fmt: skip


async def test_tag_queues_survive_a_dying_drainer_and_two_drainers_tag_once(
    deps: Deps, fake_wechat: FakeWeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = fake_wechat.state
    tag_id = await deps.oa.tag_create("济南市总工会关注者")
    await deps.db.menus.insert_one({"_id": "370100", "tag": {"id": tag_id, "name": "济南市总工会关注者"}})
    who = [f"o_t_many_{i:03d}" for i in range(120)]
    state.add_followers(who)
    for openid in who:
        await follower_tags.queue(deps.redis, openid, ["370000", "370100"])

    real = follower_tags.tag_batch

    async def dies(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("process killed mid-batch")

    monkeypatch.setattr(follower_tags, "tag_batch", dies)
    with pytest.raises(RuntimeError):
        await follower_tags.drain(deps)
    monkeypatch.setattr(follower_tags, "tag_batch", real)
    # A drainer killed outright keeps its lease until it runs out: nobody else drains meanwhile.
    lease = f"{menu_live.queue_key(follower_tags.TAG, '370100')}:lease"
    await deps.redis.set(lease, "dead-process", px=300)
    assert await follower_tags.drain(deps) == 0
    await asyncio.sleep(0.35)

    done = await asyncio.gather(follower_tags.drain(deps), follower_tags.drain(deps))  # two instances
    assert sum(done) == 120 and all(tag_id in state.followers.tags_of(o) for o in who)
    sizes = [len(c.body["openid_list"]) for c in state.calls("cgi-bin/tags/members/batchtagging")]
    assert sorted(sizes) == [20, 50, 50]  # each follower tagged once, in WeChat's batches of 50


async def test_interactions_left_in_the_pre_partition_hash_still_reach_mongodb(deps: Deps) -> None:
    """An upgrade leaves last interactions in the old global `msg:seen`: the flusher drains it too."""
    now = time.time()
    await deps.redis.hset(follower_live.LEGACY_SEEN_KEY, mapping={"o_f_old_1": str(now), "o_f_old_2": str(now - 5)})
    await deps.redis.hset(follower_live.seen_key("o_f_new"), "o_f_new", str(now))
    assert await followers.flush_seen(deps.db, deps.redis, "test") == 3
    for openid in ("o_f_old_1", "o_f_old_2", "o_f_new"):
        doc = await follower(deps, openid)
        assert abs(doc["last_interaction_at"].timestamp() - now) < 10
    assert not await deps.redis.exists(follower_live.LEGACY_SEEN_KEY)
    assert await followers.flush_seen(deps.db, deps.redis, "test") == 0


async def test_the_pre_partition_org_cache_is_rebuilt_into_the_partitions(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("plain")
    await sim.send_event("o_f_part", "subscribe", EventKey="qrscene_org:371300")
    await follower_live.forget_org_cache(deps.redis)
    await deps.redis.hset(follower_live.LEGACY_ORG_KEY, "o_f_part", "370000,371300")  # the old release's cache
    assert await followers.rebuild_org_cache(deps.db, deps.redis) >= 1
    assert await deps.redis.hget(follower_live.org_key("o_f_part"), "o_f_part") == "370000,371300"
    assert not await deps.redis.exists(follower_live.LEGACY_ORG_KEY)


async def test_followers_queued_before_the_cluster_layout_are_still_tagged(
    deps: Deps, fake_wechat: FakeWeChatServer
) -> None:
    state = fake_wechat.state
    tag_id = await deps.oa.tag_create("济南市总工会关注者")
    await deps.db.menus.insert_one({"_id": "370100", "tag": {"id": tag_id, "name": "济南市总工会关注者"}})
    state.add_followers(["o_t_old_1", "o_t_old_2"])
    # What the previous release left queued (untagged key names).
    await deps.redis.sadd("menu:tagq", "370100")
    await deps.redis.sadd("menu:tagq:370100", "o_t_old_1", "o_t_old_2")
    assert await follower_tags.drain(deps) == 2
    assert all(tag_id in state.followers.tags_of(o) for o in ("o_t_old_1", "o_t_old_2"))
    assert not await deps.redis.exists("menu:tagq") and not await deps.redis.exists("menu:tagq:370100")
    assert await deps.redis.smembers(menu_live.cities_key(follower_tags.TAG)) == set()
