"""Apply-then-draw end to end: commitment, one entry per member, freeze, beacon, draw, 公示, appeal, final."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict, Forbidden, NotFound
from services import benefits
from services.lotteries import admin, draw, entering, live, views
from services.members.sessions import CurrentUser
from tests.lotteries.conftest import add_members, draw_def, editor_scope, member_user
from tools import verify_draw
from tools.fake_beacon import FakeDrandServer


async def test_full_draw_is_recomputed_by_the_verify_script(deps: Deps, drand: FakeDrandServer, tmp_path: Path) -> None:
    scope = editor_scope()
    lot = await admin.create(deps, scope, draw_def(drand.url))
    shown = await entering.detail(deps, member_user("M0001"), lot)
    assert len(shown["commitment"]) == 64 and shown["state"] == "open"

    nos = [f"M{i:04d}" for i in range(40)]
    await add_members(deps, nos)
    codes = {}
    for no in nos:
        got = await entering.enter(deps, member_user(no), lot)
        codes[no] = got["code"]
    again = await entering.enter(deps, member_user("M0003"), lot)  # a retry or a second phone: same code
    assert again == again | {"code": codes["M0003"], "created": False}
    assert len(set(codes.values())) == 40

    with pytest.raises(Conflict):  # the deadline has not passed
        await admin.close(deps, scope, lot)
    closed = await admin.close(deps, scope, lot, now=now() + timedelta(hours=2))
    assert closed["entry_count"] == 40 and closed["merkle_root"] == draw.merkle_root(sorted(codes.values()))
    with pytest.raises(Conflict):  # frozen: no entry after close
        await entering.enter(deps, member_user("M9999"), lot)
    mine = await entering.my_entry(deps, member_user("M0007"), lot)
    assert draw.verify_proof(mine["code"], [(p["side"], p["hash"]) for p in mine["proof"]], closed["merkle_root"])

    with pytest.raises(Conflict) as early:  # the named round is still in the future
        await admin.run_draw(deps, scope, lot)
    assert early.value.code == "beacon_not_yet"
    drand.state.clock_offset = 3 * 3600  # the close was 2 h ahead; its round comes 30 s after
    drawn = await admin.run_draw(deps, scope, lot)
    assert drawn["state"] == "drawn" and len(drawn["winners"]) == 5
    with pytest.raises(NotFound):  # the seed is revealed only with the 公示
        await views.publication(deps, lot)

    await admin.publish(deps, scope, lot)
    loser = next(w["code"] for w in drawn["winners"] if w["tier"] == "一等奖")
    after = await admin.disqualify(deps, scope, lot, loser, "经核实不符合报名条件")
    assert loser not in {w["code"] for w in after["winners"]} and len(after["winners"]) == 5

    pub = await views.publication(deps, lot)
    path = tmp_path / "pub.json"
    path.write_text(json.dumps(pub, ensure_ascii=False))
    assert verify_draw.main([str(path)]) == 0
    assert verify_draw.verify(pub) == []

    with pytest.raises(Conflict):  # 公示 lasts 7 days
        await admin.finalize(deps, lot, scope=scope)
    assert await admin.finalize(deps, lot, now=now() + timedelta(days=8))
    assert not await admin.finalize(deps, lot, now=now() + timedelta(days=9))  # once
    by_code = {c: no for no, c in codes.items()}
    for w in after["winners"]:
        ent = await benefits.get(deps, benefits.entitlement_id(f"lot:{lot}", by_code[w["code"]]))
        assert ent is not None and ent.kind == "prize" and ent.status == "granted"
    assert await benefits.get(deps, benefits.entitlement_id(f"lot:{lot}", by_code[loser])) is None
    result = await entering.my_entry(deps, member_user(by_code[loser]), lot)
    assert result["result"] == "disqualified"


async def test_unbound_worker_is_refused_with_the_bind_page(deps: Deps) -> None:
    lot = await admin.create(deps, editor_scope(("370000",)), draw_def())  # province-wide: guests see it
    with pytest.raises(Forbidden) as refused:
        await entering.enter(deps, CurrentUser("o-guest", org="", org_path=()), lot)
    assert refused.value.code == "not_member" and "pages/member/bind" in refused.value.message


async def test_concurrent_entries_and_a_close_race_freeze_exactly_what_was_acknowledged(deps: Deps) -> None:
    scope = editor_scope()
    until = now() + timedelta(hours=1)
    lot = await admin.create(deps, scope, draw_def(entries_until=until.isoformat()))
    nos = [f"C{i:04d}" for i in range(200)]
    await add_members(deps, nos)

    async def one(no: str, at: datetime | None = None) -> str | None:
        try:
            return str((await entering.enter(deps, member_user(no), lot, now=at))["code"])
        except Conflict:
            return None

    before = await asyncio.gather(*(one(n) for n in nos[:100]), *(one(nos[0]) for _ in range(20)))
    late = until + timedelta(seconds=1)
    racing = await asyncio.gather(*(one(n, late) for n in nos[100:150]), admin.close(deps, scope, lot, now=late))
    assert all(code is None for code in racing[:-1])  # after the deadline, whatever the interleaving
    acknowledged = {c for c in before if c}
    closed = racing[-1]
    assert isinstance(closed, dict) and closed["entry_count"] == 100 == len(acknowledged)
    assert closed["merkle_root"] == draw.merkle_root(sorted(acknowledged))


async def test_redis_losing_the_lottery_keeps_every_entry(deps: Deps) -> None:
    scope = editor_scope()
    lot = await admin.create(deps, scope, draw_def())
    await add_members(deps, ["R0001", "R0002"])
    first = await entering.enter(deps, member_user("R0001"), lot)
    await deps.redis.flushall()
    again = await entering.enter(deps, member_user("R0001"), lot)
    assert again["code"] == first["code"] and not again["created"]
    await entering.enter(deps, member_user("R0002"), lot)
    await deps.redis.flushall()
    closed = await admin.close(deps, scope, lot, now=now() + timedelta(hours=2))
    assert closed["entry_count"] == 2


async def test_manual_beacon_and_editor_scope(deps: Deps) -> None:
    scope = editor_scope()
    lot = await admin.create(deps, scope, draw_def())
    other_city = editor_scope(("370000", "370200"))
    with pytest.raises(NotFound):
        await admin.close(deps, other_city, lot)
    await add_members(deps, ["X0001"])
    await entering.enter(deps, member_user("X0001"), lot)
    await admin.close(deps, scope, lot, beacon_description="福彩3D 第2026331期", now=now() + timedelta(hours=2))
    drawn = await admin.run_draw(deps, scope, lot, beacon_value="3 8 1")
    assert drawn["beacon"]["value"] == "3 8 1" and len(drawn["winners"]) == 1
    audit = [d["action"] async for d in deps.db.audit_log.find({"target_id": lot})]
    assert {"lottery.create", "lottery.close", "lottery.draw"} <= set(audit)
    assert not [d async for d in deps.db.audit_log.find({"after.server_seed": {"$exists": True}})]


async def test_an_entry_decided_but_never_written_is_frozen_too(deps: Deps) -> None:
    """A process that died between the Lua decision and its MongoDB write: the close writes the entry."""
    scope = editor_scope()
    lot = await admin.create(deps, scope, draw_def())
    await add_members(deps, ["Z0001", "Z0002"])
    await entering.enter(deps, member_user("Z0001"), lot)
    decided = await live.enter(deps, lot, "Z0002", "ZZZZZZZZZZ", views.ms(now()))
    assert decided.verdict == "ok"
    closed = await admin.close(deps, scope, lot, now=now() + timedelta(hours=2))
    assert closed["entry_count"] == 2
    again = await entering.my_entry(deps, member_user("Z0002"), lot)
    assert again["code"] == "ZZZZZZZZZZ" and again["proof"]


async def test_concurrent_appeals_each_move_the_order_up(deps: Deps) -> None:
    """Two appeals upheld at once: both winners are out and the next two of the same order move up."""
    scope = editor_scope()
    lot = await admin.create(deps, scope, draw_def(reserves=4))
    nos = [f"A{i:03d}" for i in range(20)]
    await add_members(deps, nos)
    for no in nos:
        await entering.enter(deps, member_user(no), lot)
    await admin.close(deps, scope, lot, now=now() + timedelta(hours=2))
    drawn = await admin.run_draw(deps, scope, lot, beacon_value="1 2 3")
    await admin.publish(deps, scope, lot)
    first, second = drawn["winners"][0]["code"], drawn["winners"][3]["code"]
    await asyncio.gather(
        admin.disqualify(deps, scope, lot, first, "申诉一"), admin.disqualify(deps, scope, lot, second, "申诉二")
    )
    pub = await views.publication(deps, lot)
    assert {d["code"] for d in pub["disqualified"]} == {first, second}
    assert [w["code"] for w in pub["winners"]] == [c for c in pub["order"] if c not in (first, second)][:5]
    assert verify_draw.verify(pub) == []
