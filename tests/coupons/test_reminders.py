"""开抢提醒: one subscribe message per consent before the next wave, never two, refusals recorded."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict
from services.coupons import admin, reminders
from tests.coupons.conftest import LIXIA, add_members, scope, spec, wave
from tests.mp.conftest import MpClient

TEMPLATE = "TPL_ACTIVITY_NOTICE"


async def test_reminders_are_sent_once_before_the_wave_and_refusals_are_recorded(deps: Deps, fake_wechat: Any) -> None:
    keen, unconsented = await add_members(deps, LIXIA, 2, "L")
    soon = now() + timedelta(minutes=3)  # opens within the reminder lead: due at once
    batch = await admin.create(deps, scope(), spec(5, [wave(soon), wave(soon + timedelta(hours=6))]))
    fake_wechat.state.grant_consent(keen.openid, TEMPLATE)
    first = await reminders.subscribe(deps, keen, batch["_id"])
    assert first.new and first.wave == 1
    assert not (await reminders.subscribe(deps, keen, batch["_id"])).new  # a second tap changes nothing
    await reminders.subscribe(deps, unconsented, batch["_id"])
    handled = await asyncio.gather(*(reminders.send_due(deps) for _ in range(3)))  # three instances at once
    assert sum(handled) == 2
    assert fake_wechat.state.delivered_count("subscribe") == 1
    assert "抢券即将开始" in str(fake_wechat.state.last_payload("subscribe", keen.openid))
    outcomes = {d["openid"]: d["status"] async for d in deps.db.coupon_reminders.find({})}
    assert outcomes == {keen.openid: "sent", unconsented.openid: "refused"}
    assert await reminders.send_due(deps) == 0


async def test_no_reminder_without_an_upcoming_wave(deps: Deps) -> None:
    user = (await add_members(deps, LIXIA, 1, "L"))[0]
    batch = await admin.create(deps, scope(), spec(5))  # its only wave is already open
    with pytest.raises(Conflict, match="没有尚未开始的时段"):
        await reminders.subscribe(deps, user, batch["_id"])


async def test_the_mini_program_registers_a_reminder(deps: Deps, mp: MpClient) -> None:
    batch = await admin.create(deps, scope("370000"), spec(5, [wave(now() + timedelta(hours=2))]))
    token = await mp.login("oRemind0001")
    status, body = await mp.call("POST", f"/api/mp/coupons/{batch['_id']}/remind", token=token)
    assert status == 201 and body["wave"] == 1 and body["new"] is True
