"""Check-in once per sign-up: the official account's QR scene and the mini-program's signed code."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict
from services.activities import checkin, signups
from services.activities import definitions as activity_admin
from tests.mp_activities.conftest import FORM, activity_def, member


def soon(capacity: int = 1, starts_in: timedelta = timedelta(minutes=30)) -> dict[str, Any]:
    """One session starting soon: check-in (from 60 minutes before) is open now."""
    at = now()
    start = at + starts_in
    return activity_def(
        capacity,
        signup_deadline=(at + timedelta(minutes=5)).isoformat(),
        sessions=[{"id": "s1", "capacity": capacity, "place": "工人文化宫",
                   "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}],
    )  # fmt: skip


async def make(deps: Deps, data: dict[str, Any]) -> str:
    doc = await activity_admin.create_activity(deps, data, editor_org=None)
    await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)
    return str(doc["_id"])


async def link(deps: Deps, oa_openid: str, mp_openid: str) -> None:
    """A follower of the official account and a mini-program user who share a unionid."""
    await deps.db.followers.insert_one({"_id": oa_openid, "subscribed": True, "unionid": f"U-{mp_openid}"})
    await deps.db.mini_users.insert_one({"_id": mp_openid, "unionid": f"U-{mp_openid}"})


async def test_official_account_replies(deps: Deps) -> None:
    aid = await make(deps, soon(capacity=1))
    await link(deps, "oa1", "mp1")
    await link(deps, "oa2", "mp2")
    await link(deps, "oa3", "mp3")
    await signups.sign_up(deps, member("mp1"), aid, "s1", FORM)
    await signups.sign_up(deps, member("mp2"), aid, "s1", FORM)  # waitlisted
    ok = await checkin.check_in_follower(deps, aid, "oa1")
    assert ok.startswith("签到成功！活动「职工健步走」") and "工人文化宫" in ok
    assert "无需重复签到" in await checkin.check_in_follower(deps, aid, "oa1")
    assert "候补名单中（第 1 位）" in await checkin.check_in_follower(deps, aid, "oa2")
    assert "尚未报名" in await checkin.check_in_follower(deps, aid, "oa3")
    assert "未找到该活动" in await checkin.check_in_follower(deps, "acnope", "oa1")
    assert "请先用同一微信号登录" in await checkin.check_in_follower(deps, aid, "oa-stranger")
    state = await signups.state(deps).user_active(aid, "mp1")
    signup = await signups.state(deps).get(state["s1"])
    assert signup is not None and signup["checkin_via"] == "oa" and signup["checked_in_at"]


async def test_not_today_too_early_and_over(deps: Deps) -> None:
    await link(deps, "oa1", "mp1")
    later = await make(deps, activity_def())  # first session in two days
    await signups.sign_up(deps, member("mp1"), later, "s1", FORM)
    assert "不在今天举行" in await checkin.check_in_follower(deps, later, "oa1")
    aid = await make(deps, soon())
    await signups.sign_up(deps, member("mp1"), aid, "s1", FORM)
    past = now() - timedelta(hours=3)
    session = {
        "id": "s1",
        "title": "",
        "place": "",
        "capacity": 1,
        "starts_at": past,
        "ends_at": past + timedelta(hours=1),
    }
    await deps.db.activities.update_one({"_id": aid}, {"$set": {"sessions": [session]}})
    deps.extras[signups.CACHE].forget(aid)
    assert "已结束，签到已关闭" in await checkin.check_in_follower(deps, aid, "oa1")


async def test_mini_program_code_is_signed_and_works_once(deps: Deps) -> None:
    aid = await make(deps, soon(capacity=5))
    user = member("mp1")
    await signups.sign_up(deps, user, aid, "s1", FORM)
    code = checkin.checkin_code(deps, aid, "s1")
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    with pytest.raises(BadInput) as err:
        await checkin.check_in_code(deps, user, aid, forged)
    assert err.value.code == "invalid_checkin_code"
    other = await make(deps, soon())
    with pytest.raises(BadInput):
        await checkin.check_in_code(deps, user, other, code)
    stale = checkin.checkin_code(deps, aid, "s1", expires_at=now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as expired:
        await checkin.check_in_code(deps, user, aid, stale)
    assert expired.value.code == "checkin_code_expired"
    results = await asyncio.gather(*(checkin.check_in_code(deps, user, aid, code) for _ in range(10)))
    assert sorted(r["status"] for r in results) == ["already_checked_in"] * 9 + ["checked_in"]
    with pytest.raises(Conflict) as not_signed:
        await checkin.check_in_code(deps, member("mp9"), aid, code)
    assert not_signed.value.code == "not_signed_up" and "尚未报名" in not_signed.value.message


async def test_checked_in_sign_up_cannot_be_cancelled(deps: Deps) -> None:
    aid = await make(deps, soon(capacity=5))
    user = member("mp1")
    mine, _ = await signups.sign_up(deps, user, aid, "s1", FORM)
    await checkin.check_in_code(deps, user, aid, checkin.checkin_code(deps, aid, "s1"))
    with pytest.raises(Conflict) as err:
        await signups.cancel(deps, user, aid, mine["id"])
    assert err.value.code == "already_checked_in"
