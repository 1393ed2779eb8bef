"""Grabbing: exactly the stock, at most one per member, every bucket exact, pool after own bucket,
waves and their leftovers, closed batches, unbound workers, Idempotency-Key, risk verdicts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict, Forbidden, ServiceError
from services.coupons import admin, grabbing, jobs
from services.members.sessions import CurrentUser
from tests.coupons.conftest import LIXIA, SHIZHONG, add_members, scope, spec, wave


async def _try(deps: Deps, user: CurrentUser, batch_id: str, key: str = "") -> Any:
    try:
        return await grabbing.grab(deps, user, batch_id, "10.0.0.1", key)
    except ServiceError as exc:
        return exc


async def test_concurrent_grabs_give_exactly_the_stock_fairly_split_and_once_per_member(deps: Deps) -> None:
    lixia = await add_members(deps, LIXIA, 60, "L")
    shizhong = await add_members(deps, SHIZHONG, 20, "S")
    batch = await admin.create(deps, scope(), spec(12))
    assert batch["alloc"]["1:370102"] == 9 and batch["alloc"]["1:370103"] == 3
    users = lixia + shizhong
    results = await asyncio.gather(*(_try(deps, u, batch["_id"]) for u in users + users))  # everyone twice
    won = [r for r in results if isinstance(r, grabbing.GrabResult)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(won) == 12 and len({r.entitlement_id for r in won}) == 12
    assert {r.code for r in refused} <= {"sold_out", "already_granted"}
    assert any("本单位剩 0 / 公共池 0" in r.message for r in refused if r.code == "sold_out")
    stock = await jobs.live(deps).stock(batch["_id"])
    assert stock["got:370102"] == 9 and stock["got:370103"] == 3 and stock.get("got:_pool", 0) == 0
    await jobs.drain(deps)
    docs = await deps.db.entitlements.find({"source": f"cpn:{batch['_id']}"}).to_list()
    assert len(docs) == 12 and len({d["member_id"] for d in docs}) == 12
    assert sum(1 for d in docs if d["org"] == "370102") == 9
    assert all(d["status"] == "granted" and d["risk"] == "safe" for d in docs)


async def test_a_worker_takes_the_pool_after_their_own_bucket_is_empty(deps: Deps) -> None:
    lixia = await add_members(deps, LIXIA, 3, "L")
    direct = await add_members(deps, ("370000", "370100"), 1, "D")
    batch = await admin.create(deps, scope(), spec(4))  # 3 for 历下, 1 for the pool (the direct member)
    for u in lixia:
        r = await grabbing.grab(deps, u, batch["_id"], "")
        assert isinstance(r, grabbing.GrabResult)
    late = (await add_members(deps, LIXIA, 1, "LL"))[0]
    got = await grabbing.grab(deps, late, batch["_id"], "")
    assert got.bucket_left == 0 and got.pool_left == 0
    assert (await jobs.live(deps).stock(batch["_id"]))["got:_pool"] == 1
    with pytest.raises(Conflict, match="本轮已抢完"):
        await grabbing.grab(deps, direct[0], batch["_id"], "")


async def test_waves_open_on_time_and_leftovers_move_to_the_pool_audited(deps: Deps) -> None:
    lixia = await add_members(deps, LIXIA, 10, "L")
    shizhong = await add_members(deps, SHIZHONG, 10, "S")
    at = now()
    w1, w2 = at - timedelta(minutes=1), at + timedelta(hours=2)
    batch = await admin.create(deps, scope(), spec(8, [wave(w1), wave(w2)]))
    bid = batch["_id"]
    await grabbing.grab(deps, lixia[0], bid, "")  # wave 1: 历下 2 -> 1 left, 市中 2 untouched
    with pytest.raises(Conflict, match="本轮已抢完") as sold:
        for u in lixia[1:3]:
            await grabbing.grab(deps, u, bid, "")
    assert sold.value.code == "sold_out"
    live = jobs.live(deps)
    in_wave_2 = int((w2 + timedelta(minutes=5)).timestamp() * 1000)
    # between the waves: refused with the next opening time, and wave 1's 2 leftovers (市中) go to the pool
    between = int((w1 + timedelta(minutes=90)).timestamp() * 1000)
    early = await live.grab(bid, shizhong[0].member_id, now_ms=between, org_path=SHIZHONG, openid="x", org="370103")
    assert early.outcome == "early"
    assert (await live.stock(bid))["_pool"] == 2
    # wave 2 opens: buckets get their new allotment; 市中 takes its own bucket first, then the pool
    answers = [await live.grab(bid, u.member_id, now_ms=in_wave_2, org_path=SHIZHONG, openid=u.openid, org="370103")
               for u in shizhong[:5]]  # fmt: skip
    assert [a.outcome for a in answers] == ["ok", "ok", "ok", "ok", "soldout"]
    assert [a.detail[0] for a in answers[:4]] == ["370103", "370103", "_pool", "_pool"]
    await jobs.drain(deps)
    moves = await deps.db.coupon_moves.find({"batch": bid}).to_list()
    assert [(m["wave"], m["moved"]) for m in moves] == [(1, 2)]
    logged = await deps.db.audit_log.find({"target_id": bid, "action": "coupon.leftovers"}).to_list()
    assert len(logged) == 1 and "2 张转入公共池" in logged[0]["summary"]


async def test_ended_closed_unbound_and_foreign_workers_get_clear_answers(deps: Deps) -> None:
    lixia = await add_members(deps, LIXIA, 2, "L")
    batch = await admin.create(deps, scope(), spec(5))
    with pytest.raises(Forbidden, match="请先绑定会员身份") as unbound:
        await grabbing.grab(deps, CurrentUser("oGuest"), batch["_id"], "")
    assert "pages/member/bind" in unbound.value.message
    qingdao = CurrentUser("oQ", "", "Q1", "370200", ("370000", "370200"))
    with pytest.raises(Forbidden, match="不面向您所在的工会"):
        await grabbing.grab(deps, qingdao, batch["_id"], "")
    await admin.set_open(deps, scope(), batch["_id"], False)
    with pytest.raises(Conflict, match="已停止发放"):
        await grabbing.grab(deps, lixia[0], batch["_id"], "")
    await admin.set_open(deps, scope(), batch["_id"], True)
    assert isinstance(await grabbing.grab(deps, lixia[0], batch["_id"], ""), grabbing.GrabResult)
    with pytest.raises(Conflict, match="您已领过"):
        await grabbing.grab(deps, lixia[0], batch["_id"], "")
    past = await admin.create(deps, scope(), spec(5, [wave(now() - timedelta(hours=3))]))
    with pytest.raises(Conflict, match="已全部结束"):
        await grabbing.grab(deps, lixia[1], past["_id"], "")


async def test_an_idempotency_key_replays_the_first_answer(deps: Deps) -> None:
    user = (await add_members(deps, LIXIA, 1, "L"))[0]
    batch = await admin.create(deps, scope(), spec(3))
    first, again = await asyncio.gather(
        *(grabbing.grab(deps, user, batch["_id"], "", "key-12345678") for _ in range(2))
    )
    assert {first.replayed, again.replayed} == {False, True}
    assert first.entitlement_id == again.entitlement_id and again.status == "granted"
    assert (await jobs.live(deps).stock(batch["_id"]))["_granted"] == 1


async def test_risk_rank_4_holds_the_grant_and_an_error_is_unknown_never_safe(deps: Deps, fake_wechat: Any) -> None:
    risky, normal, unlucky = await add_members(deps, LIXIA, 3, "L")
    fake_wechat.state.risk_ranks[risky.openid] = 4
    batch = await admin.create(deps, scope(), spec(3))
    held = await grabbing.grab(deps, risky, batch["_id"], "10.0.0.9")
    assert held.status == "held" and "待审核" in held.message
    assert (await grabbing.grab(deps, normal, batch["_id"], "")).status == "granted"
    fake_wechat.state.inject("wxa/getuserriskrank", -1, times=10)
    assert (await grabbing.grab(deps, unlucky, batch["_id"], "")).status == "granted"
    await jobs.drain(deps)
    flagged = {d["member_id"]: d for d in await admin.flagged(deps, scope(), batch["_id"])}
    assert flagged[risky.member_id]["status"] == "held" and "风险等级 4" in flagged[risky.member_id]["note"]
    assert flagged[unlucky.member_id]["risk"] == "unknown" and "未知" in flagged[unlucky.member_id]["note"]
    assert normal.member_id not in flagged
    await admin.review(deps, scope(), batch["_id"], risky.member_id, release=False, note="同一设备多号")
    with pytest.raises(Conflict):
        await admin.review(deps, scope(), batch["_id"], risky.member_id, release=True, note="")
    assert (await jobs.live(deps).stock(batch["_id"]))["_pool"] == 1  # the revoked coupon is back in the pool
    view = await grabbing.my_view(deps, risky, batch["_id"], batch["buckets"])
    assert view.state == "revoked" and view.pool_left == 1


async def test_a_flush_replayed_after_a_crash_stores_nothing_twice(deps: Deps) -> None:
    users = await add_members(deps, LIXIA, 30, "L")
    batch = await admin.create(deps, scope(), spec(30))
    await asyncio.gather(*(grabbing.grab(deps, u, batch["_id"], "") for u in users))
    live = jobs.live(deps)
    trim = live.trim

    async def crash(stream: str, entry_ids: list[str]) -> None:
        raise ConnectionError("killed between the MongoDB write and the trim")

    live.trim = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await jobs.flush_once(deps)
    live.trim = trim  # type: ignore[method-assign]
    assert await live.pending() > 0
    await jobs.drain(deps)
    assert await live.pending() == 0
    watch = await admin.watch(deps, scope(), batch["_id"])
    assert watch.stored == 30 and watch.granted_redis == 30 and watch.agrees


async def test_a_retry_finishes_a_risk_check_the_first_attempt_never_made(deps: Deps, fake_wechat: Any) -> None:
    user = (await add_members(deps, LIXIA, 1, "L"))[0]
    fake_wechat.state.risk_ranks[user.openid] = 4
    batch = await admin.create(deps, scope(), spec(2))
    live = jobs.live(deps)
    # the process died right after the Lua grant: the member's state is still "risk check pending"
    first = await live.grab(batch["_id"], user.member_id, now_ms=int(now().timestamp() * 1000), org_path=LIXIA,
                            openid=user.openid, org="370102", idempotency_key="retry-0000001")  # fmt: skip
    assert first.outcome == "ok" and (await live.served(batch["_id"], user.member_id)).state == "p"  # type: ignore[union-attr]
    again = await grabbing.grab(deps, user, batch["_id"], "10.0.0.1", "retry-0000001")
    assert again.replayed and again.status == "held"
    await jobs.drain(deps)
    doc = await deps.db.entitlements.find_one({"_id": again.entitlement_id})
    assert doc is not None and doc["status"] == "held" and doc["risk"] == "held"


async def test_a_slow_risk_check_answers_within_a_second_as_unknown(
    deps: Deps, fake_wechat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.coupons import risk

    user = (await add_members(deps, LIXIA, 1, "L"))[0]
    batch = await admin.create(deps, scope(), spec(2))
    await deps.mp.client.tokens.get()  # the access_token is fetched before the clock starts, as in a running service
    monkeypatch.setattr(risk, "TIMEOUT_SECONDS", 0.8)
    fake_wechat.state.set_delay("wxa/getuserriskrank", 3.0)
    started = asyncio.get_running_loop().time()
    got = await grabbing.grab(deps, user, batch["_id"], "10.0.0.1")
    assert asyncio.get_running_loop().time() - started < 1.5
    assert got.status == "granted"
    await jobs.drain(deps)
    doc = await deps.db.entitlements.find_one({"_id": got.entitlement_id})
    assert doc is not None and doc["risk"] == "unknown" and "未知" in doc["note"]
