"""Three instances on a three-master Redis Cluster: what a worker does on one instance holds on the others,
and every limit stays exact when the requests for it are spread round robin over the three."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

from core.clock import now
from services.activities import definitions as activity_admin
from services.coupons import admin as coupon_admin
from services.polls import definitions as polls
from tests.coupons.conftest import scope, spec
from tests.mp_activities.conftest import FORM, activity_def
from tests.scale.conftest import Phones, Scale, wait_for

LIXIA = ("370000", "370100", "370102")


async def test_a_session_made_on_one_instance_is_known_to_all_and_ended_everywhere(
    scale: Scale, phones: Phones
) -> None:
    a, b, c = await scale.start(3)
    openids = [f"o_sess{i:03d}" for i in range(30)]
    tokens = await phones.login_many(openids)  # logins spread over the three instances
    for token in tokens:
        answers = [await phones.call("GET", "/api/mp/me", token=token, url=i.url) for i in (a, b, c)]
        assert [x.status for x in answers] == [200, 200, 200], answers
        assert answers[0].body == answers[1].body == answers[2].body
    # Logging out on C ends the session on A and B at once (no instance keeps a copy of its own).
    first = tokens[0]
    assert (await phones.call("POST", "/api/mp/logout", {}, token=first, url=c.url)).status == 200
    for inst in (a, b, c):
        gone = await phones.call("GET", "/api/mp/me", token=first, url=inst.url)
        assert gone.status == 401 and "重新登录" in gone.body["message"], (inst.name, gone)
    # "Log out on every device": two sessions of one worker made on A and B, ended from C.
    on_a = await phones.login(openids[1], url=a.url)
    on_b = await phones.login(openids[1], url=b.url)
    assert (await phones.call("POST", "/api/mp/logout", {"all": True}, token=on_a, url=c.url)).status == 200
    for token, inst in itertools.product((on_a, on_b, tokens[1]), (a, b, c)):
        assert (await phones.call("GET", "/api/mp/me", token=token, url=inst.url)).status == 401
    assert (await phones.call("GET", "/api/mp/me", token=tokens[2], url=a.url)).status == 200


async def test_ballots_over_three_instances_are_counted_exactly_and_limited_exactly(
    scale: Scale, phones: Phones
) -> None:
    users, allowed = 90, 2
    poll = await polls.create(scale.deps, "370000", {
        "title": "最美职工评选", "options": [{"title": f"候选人{i}"} for i in range(1, 5)],
        "opens_at": now() - timedelta(hours=1), "closes_at": now() + timedelta(days=7), "publish": True,
        "limit": {"per": "poll", "count": allowed}, "anti_brush": {"user_per_minute": 0, "ip_per_minute": 0},
    })  # fmt: skip
    await scale.start(3)
    tokens = await phones.login_many([f"o_vote{i:03d}" for i in range(users)])
    path = f"/api/mp/polls/{poll['_id']}/ballots"
    # Each worker taps three times at once, each tap on another instance; two are allowed.
    jobs = [(t, f"o{i % 4 + 1}") for i, t in enumerate(tokens) for _ in range(allowed + 1)]
    answers = await asyncio.gather(*(phones.call("POST", path, {"options": [o]}, token=t) for t, o in jobs))
    statuses = Counter(x.status for x in answers)
    assert statuses == {201: users * allowed, 409: users}, (statuses, scale.logs())
    assert all(x.body["code"] == "ballot_limit" for x in answers if x.status == 409)
    assert len({x.url for x in answers}) == 3

    expected = {f"o{k}": users // 4 * allowed + (allowed if k <= users % 4 else 0) for k in range(1, 5)}

    async def stored() -> bool:
        return await scale.deps.db.ballots.count_documents({"poll": poll["_id"]}) >= users * allowed

    await wait_for(stored, 30, "every ballot written to MongoDB by the instances' flushers")
    by_option: Counter[str] = Counter()
    async for doc in scale.deps.db.ballots.find({"poll": poll["_id"]}):
        by_option.update(doc["options"])
    assert dict(by_option) == expected
    live = await polls.live(scale.deps).counts(poll["_id"]) or {}
    assert {k: v for k, v in live.items() if not k.startswith("_")} == expected
    assert live["_ballots"] == users * allowed and live["_voters"] == users
    # What the mini-program shows is the same whichever instance answers.
    shown = [await phones.call("GET", f"/api/mp/polls/{poll['_id']}", token=tokens[0], url=i.url) for i in scale.live()]
    assert all(x.status == 200 for x in shown) and shown[0].body == shown[1].body == shown[2].body


async def test_sign_ups_over_three_instances_fill_exactly_the_places_in_arrival_order(
    scale: Scale, phones: Phones
) -> None:
    capacity, racers = 30, 120
    doc = await activity_admin.create_activity(scale.deps, {**activity_def(capacity), "org": "370000"}, editor_org=None)
    await activity_admin.publish_activity(scale.deps, doc["_id"], editor_org=None)
    aid = doc["_id"]
    await scale.start(3)
    tokens = await phones.login_many([f"o_race{i:03d}" for i in range(racers)])
    path = f"/api/mp/activities/{aid}/signups"
    body = {"session_id": "s1", "form": FORM}
    # Everyone taps twice (a double tap lands on two instances): one sign-up each, the second answered
    # with the same one.
    answers = await asyncio.gather(*(phones.call("POST", path, body, token=t) for t in tokens + tokens))
    assert {x.status for x in answers} <= {200, 201}, [x for x in answers if x.status not in (200, 201)][:3]
    per_user: dict[str, set[str]] = {}
    for token, x in zip(tokens + tokens, answers, strict=True):
        per_user.setdefault(token, set()).add(x.body["id"])
    assert all(len(ids) == 1 for ids in per_user.values())
    firsts = {x.body["id"]: x.body for x in answers}
    statuses = Counter(s["status"] for s in firsts.values())
    assert statuses == {"confirmed": capacity, "waitlisted": racers - capacity}
    positions = sorted(s["position"] for s in firsts.values() if s["status"] == "waitlisted")
    assert positions == list(range(1, racers - capacity + 1))

    async def stored() -> bool:
        return await scale.deps.db.signups.count_documents({"activity_id": aid}) >= racers

    await wait_for(stored, 30, "every sign-up written to MongoDB")
    in_db = Counter([d["status"] async for d in scale.deps.db.signups.find({"activity_id": aid})])
    assert in_db == {"confirmed": capacity, "waitlisted": racers - capacity}
    for inst in scale.live():
        detail = await phones.call("GET", f"/api/mp/activities/{aid}", token=tokens[0], url=inst.url)
        s1 = detail.body["sessions"][0]
        assert (s1["confirmed"], s1["remaining"], s1["waitlisted"]) == (capacity, 0, racers - capacity), inst.name


async def test_a_coupon_grab_over_three_instances_gives_exactly_the_stock_once_per_member(
    scale: Scale, phones: Phones
) -> None:
    members, stock = 80, 25
    await scale.deps.db.members.insert_many([
        {"_id": f"GR{i:05d}", "name": f"会员{i}", "phone": f"139{i:08d}", "org": LIXIA[-1], "org_path": list(LIXIA)}
        for i in range(members)
    ])  # fmt: skip
    batch = await coupon_admin.create(scale.deps, scope(), spec(stock))
    await scale.start(3)
    tokens = await phones.login_many([f"o_grab{i:03d}" for i in range(members)])
    # Binding on one instance makes the member known to the next request on another.
    binds = await asyncio.gather(*(
        phones.call("POST", "/api/mp/members/bind", {"name": f"会员{i}", "member_no": f"GR{i:05d}"}, token=t)
        for i, t in enumerate(tokens)
    ))  # fmt: skip
    assert {x.status for x in binds} == {200}, [x for x in binds if x.status != 200][:3]
    path = f"/api/mp/coupons/{batch['_id']}/grab"
    # Every member grabs three times at once (three instances); the wave opens for all at the same moment.
    answers = await asyncio.gather(*(phones.call("POST", path, {}, token=t) for t in tokens * 3))
    won = [x for x in answers if x.status == 201]
    refused = Counter(x.body["code"] for x in answers if x.status == 409)
    assert len(won) == stock, (Counter(x.status for x in answers), scale.logs())
    assert set(refused) <= {"sold_out", "already_granted"} and sum(refused.values()) == 3 * members - stock
    assert len({x.body["entitlement_id"] for x in won}) == stock

    async def ledger() -> bool:
        return await scale.deps.db.entitlements.count_documents({"source": f"cpn:{batch['_id']}"}) >= stock

    await wait_for(ledger, 30, "every granted coupon in the entitlement ledger")
    docs: list[dict[str, Any]] = await scale.deps.db.entitlements.find({"source": f"cpn:{batch['_id']}"}).to_list()
    assert len(docs) == stock and len({d["member_id"] for d in docs}) == stock
    assert {d["_id"] for d in docs} == {x.body["entitlement_id"] for x in won}
