"""Sign-up rules against the real Redis (Lua) and MongoDB-wire servers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict, Forbidden, NotFound, TooMany
from services.activities import browsing as activities
from services.activities import definitions as activity_admin
from services.activities import signups
from services.activities.flusher import flush_all
from services.surveys.questions import InvalidAnswers
from tests.mp_activities.conftest import FORM, activity_def, guest, member


async def published(deps: Deps, capacity: int = 10, **over: Any) -> str:
    doc = await activity_admin.create_activity(deps, activity_def(capacity, **over), editor_org=None)
    await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)
    return str(doc["_id"])


async def sign(deps: Deps, aid: str, openid: str, session: str = "s1") -> dict[str, Any]:
    out, _ = await signups.sign_up(deps, member(openid), aid, session, FORM)
    return out


async def test_confirmed_then_waitlisted_and_duplicates_answered_with_the_same(deps: Deps) -> None:
    aid = await published(deps, capacity=2)
    a, b, c = [await sign(deps, aid, f"u{i}") for i in range(3)]
    assert (a["status"], b["status"], c["status"]) == ("confirmed", "confirmed", "waitlisted")
    assert c["position"] == 1 and c["status_text"] == "候补中"
    again, created = await signups.sign_up(deps, member("u2"), aid, "s1", FORM)
    assert not created and again["id"] == c["id"]
    detail = await activities.detail(deps, member("u0"), aid)
    s1 = detail["sessions"][0]
    assert (s1["confirmed"], s1["remaining"], s1["waitlisted"]) == (2, 0, 1)
    assert [s["id"] for s in detail["my_signups"]] == [a["id"]]


async def test_form_answers_are_validated(deps: Deps) -> None:
    aid = await published(deps)
    with pytest.raises(InvalidAnswers) as err:
        await signups.sign_up(deps, member("u1"), aid, "s1", {"phone": "12345"})
    assert err.value.errors == {"phone": "请填写正确的 11 位手机号码", "size": "此题为必答题"}


async def test_per_user_limit_across_sessions(deps: Deps) -> None:
    aid = await published(deps)
    await sign(deps, aid, "u1", "s1")
    with pytest.raises(Conflict) as err:
        await sign(deps, aid, "u1", "s2")
    assert err.value.code == "signup_limit" and "最多报名 1 个场次" in err.value.message
    two = await published(deps, per_user_limit=2)
    await sign(deps, two, "u1", "s1")
    assert (await sign(deps, two, "u1", "s2"))["status"] == "confirmed"


async def test_full_session_without_waitlist_and_with_a_full_waitlist(deps: Deps) -> None:
    closed = await published(deps, capacity=1, waitlist={"enabled": False})
    await sign(deps, closed, "u1")
    with pytest.raises(Conflict) as err:
        await sign(deps, closed, "u2")
    assert err.value.code == "session_full"
    short = await published(deps, capacity=1, waitlist={"enabled": True, "limit": 1})
    await sign(deps, short, "u1")
    assert (await sign(deps, short, "u2"))["status"] == "waitlisted"
    with pytest.raises(Conflict) as err:
        await sign(deps, short, "u3")
    assert err.value.code == "waitlist_full"


async def test_windows_visibility_and_members_only(deps: Deps) -> None:
    at = now()
    later = await published(deps, signup_opens_at=(at + timedelta(hours=3)).isoformat())
    with pytest.raises(Conflict) as err:
        await sign(deps, later, "u1")
    assert err.value.code == "signup_not_open"
    aid = await published(deps, members_only=True)
    with pytest.raises(NotFound):
        await signups.sign_up(deps, member("qd", ("370000", "370200")), aid, "s1", FORM)
    with pytest.raises(NotFound):
        await signups.sign_up(deps, member("u1"), aid, "nope", FORM)
    province = await published(deps, org="370000", members_only=True)
    with pytest.raises(Forbidden) as forbidden:
        await signups.sign_up(deps, guest("g1"), province, "s1", FORM)
    assert forbidden.value.code == "members_only"
    await deps.db.activities.update_one({"_id": aid}, {"$set": {"signup_deadline": at - timedelta(minutes=1)}})
    deps.extras[signups.CACHE].forget(aid)
    with pytest.raises(Conflict) as err:
        await sign(deps, aid, "u1")
    assert err.value.code == "signup_closed" and "报名已截止" in err.value.message


async def test_cancel_promotes_the_first_waitlisted_in_order(deps: Deps) -> None:
    aid = await published(deps, capacity=1)
    first = await sign(deps, aid, "u0")
    waiting = [await sign(deps, aid, f"u{i}") for i in range(1, 4)]
    assert [w["position"] for w in waiting] == [1, 2, 3]
    with pytest.raises(Forbidden):
        await signups.cancel(deps, member("u2"), aid, first["id"])
    cancelled = await signups.cancel(deps, member("u0"), aid, first["id"])
    assert cancelled["status"] == "cancelled"
    again = await signups.cancel(deps, member("u0"), aid, first["id"])  # repeated: same answer
    assert again["status"] == "cancelled"
    mine = {s["id"]: s for s in await signups.my_signups(deps, member("u1"))}
    assert mine[waiting[0]["id"]]["status"] == "confirmed"
    left = await signups.cancel(deps, member("u2"), aid, waiting[1]["id"])  # a waitlisted user leaves
    assert left["status"] == "cancelled"
    assert (await signups.my_signups(deps, member("u3")))[0]["position"] == 1
    resigned, created = await signups.sign_up(deps, member("u0"), aid, "s1", FORM)  # back of the line
    assert created and resigned["status"] == "waitlisted" and resigned["position"] == 2


async def test_cancel_deadline(deps: Deps) -> None:
    aid = await published(deps, capacity=1, cancel_deadline=(now() + timedelta(hours=1)).isoformat())
    mine = await sign(deps, aid, "u1")
    waiting = await sign(deps, aid, "u2")
    await deps.db.activities.update_one({"_id": aid}, {"$set": {"cancel_deadline": now() - timedelta(minutes=1)}})
    deps.extras[signups.CACHE].forget(aid)
    with pytest.raises(Conflict) as err:
        await signups.cancel(deps, member("u1"), aid, mine["id"])
    assert err.value.code == "cancel_closed" and "联系主办方" in err.value.message
    assert (await signups.cancel(deps, member("u2"), aid, waiting["id"]))["status"] == "cancelled"


async def test_200_users_race_for_the_last_10_places(deps: Deps) -> None:
    aid = await published(deps, capacity=30)
    for i in range(20):
        await sign(deps, aid, f"early{i}")
    results = await asyncio.gather(*(sign(deps, aid, f"racer{i}") for i in range(200)))
    confirmed = [r for r in results if r["status"] == "confirmed"]
    waitlisted = sorted((r for r in results if r["status"] == "waitlisted"), key=lambda r: r["position"])
    assert len(confirmed) == 10 and len(waitlisted) == 190
    assert [w["position"] for w in waitlisted] == list(range(1, 191))
    seqs = [int(w["id"].rsplit("-", 1)[1]) for w in waitlisted]
    assert seqs == sorted(seqs)  # waitlist order is the server's arrival order
    assert max(int(c["id"].rsplit("-", 1)[1]) for c in confirmed) < seqs[0]
    for c in confirmed[:5]:
        owner = "racer" + str(next(i for i, r in enumerate(results) if r["id"] == c["id"]))
        await signups.cancel(deps, member(owner), aid, c["id"])
    after = await signups.state(deps).get_many([w["id"] for w in waitlisted])
    assert [after[w["id"]]["status"] for w in waitlisted[:6]] == ["confirmed"] * 5 + ["waitlisted"]
    await flush_all(deps)
    from services.activities import signups_store as repo

    assert await repo.count_by_status(deps.db, aid) == {"confirmed": 30, "waitlisted": 185, "cancelled": 5}


async def test_capacity_raise_promotes_in_order_and_cannot_drop_below_confirmed(deps: Deps) -> None:
    aid = await published(deps, capacity=1)
    await sign(deps, aid, "u0")
    w1, w2, w3 = [await sign(deps, aid, f"u{i}") for i in range(1, 4)]
    data = activity_def(capacity=3)
    await activity_admin.update_activity(deps, aid, {"sessions": data["sessions"]}, editor_org=None)
    states = await signups.state(deps).get_many([w1["id"], w2["id"], w3["id"]])
    assert [states[w["id"]]["status"] for w in (w1, w2, w3)] == ["confirmed", "confirmed", "waitlisted"]
    with pytest.raises(Conflict) as err:
        await activity_admin.update_activity(
            deps, aid, {"sessions": activity_def(capacity=2)["sessions"]}, editor_org=None
        )
    assert err.value.code == "capacity_below_confirmed"


async def test_sign_up_requests_are_rate_limited_per_user(deps: Deps) -> None:
    aid = await published(deps)
    for _ in range(30):  # repeats are answered with the existing sign-up, but they count
        await sign(deps, aid, "u1")
    with pytest.raises(TooMany) as err:
        await sign(deps, aid, "u1")
    assert err.value.code == "rate_limited" and "操作太频繁" in err.value.message
    assert (await sign(deps, aid, "u2"))["status"] == "confirmed"  # other users are not affected
