"""The mini-program's view: a bound worker grabs through HTTP, sees 本单位剩 N / 公共池 M and the
coupon in 我的权益 with a rotating code; an unbound worker is sent to the binding page."""

from __future__ import annotations

from typing import Any

from core.deps import Deps
from services.coupons import admin, jobs
from services.members.roster import import_roster
from tests.coupons.conftest import scope, spec
from tests.mp.conftest import MpClient
from tests.mp.roster_files import ROSTER, csv_bytes


async def test_a_bound_worker_grabs_once_and_sees_it_in_my_benefits(deps: Deps, mp: MpClient, fake_wechat: Any) -> None:
    await import_roster(deps, "370100", csv_bytes(ROSTER), "r.csv")
    batch = await admin.create(deps, scope(), spec(4))  # 历下 has 2 of 4 members (JN0001, JN0002)
    bid = batch["_id"]
    guest = await mp.login("oGuest0001")
    status, body = await mp.call("POST", f"/api/mp/coupons/{bid}/grab", token=guest)
    assert status == 403 and body["code"] == "not_member" and "pages/member/bind" in body["message"]

    token = await mp.login("oZhang0001")
    assert (await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138000"}, token))[0] == 200
    status, listed = await mp.call("GET", "/api/mp/coupons", token=token)
    assert status == 200 and [b["id"] for b in listed["items"]] == [bid] and listed["items"][0]["state"] == "open"
    status, before = await mp.call("GET", f"/api/mp/coupons/{bid}", token=token)
    assert before["my"]["text"] == "本单位剩 2 / 公共池 1" and before["my"]["result"] == "none"

    headers = {"Idempotency-Key": "grab-0000001"}
    status, got = await mp.call("POST", f"/api/mp/coupons/{bid}/grab", token=token, headers=headers)
    assert status == 201 and got["status"] == "granted" and got["bucket_left"] == 1 and got["pool_left"] == 1
    status, replay = await mp.call("POST", f"/api/mp/coupons/{bid}/grab", token=token, headers=headers)
    assert status == 201 and replay["entitlement_id"] == got["entitlement_id"]
    status, again = await mp.call("POST", f"/api/mp/coupons/{bid}/grab", token=token)
    assert status == 409 and again["code"] == "already_granted"
    status, after = await mp.call("GET", f"/api/mp/coupons/{bid}", token=token)
    assert after["my"]["result"] == "granted" and after["my"]["text"] == "本单位剩 1 / 公共池 1"

    await jobs.drain(deps)
    status, mine = await mp.call("GET", "/api/mp/benefits", token=token)
    assert status == 200 and [b["id"] for b in mine["items"]] == [got["entitlement_id"]]
    assert mine["items"][0]["status"] == "granted" and mine["next_cursor"] is None
    status, code = await mp.call("GET", f"/api/mp/benefits/{got['entitlement_id']}/code", token=token)
    assert status == 200 and len(code["code"]) == 12
    other = await mp.login("oOther0001")
    status, _ = await mp.call("GET", f"/api/mp/benefits/{got['entitlement_id']}/code", token=other)
    assert status == 404


async def test_the_lean_grab_route_speaks_like_every_mp_route(deps: Deps, mp: MpClient, fetch: Any) -> None:
    batch = await admin.create(deps, scope(), spec(4))
    path = f"/api/mp/coupons/{batch['_id']}/grab"
    status, body = await mp.call("POST", path)
    assert status == 401 and body["code"] == "unauthorized"
    anon = await fetch(path, method="POST", body=b"")
    assert anon.headers["WWW-Authenticate"] == 'Bearer realm="mp"' and anon.headers["X-Request-Id"]
    token = await mp.login("oGuest0002")
    status, body = await mp.call("POST", path, token=token, headers={"Idempotency-Key": "bad key!"})
    assert status == 400 and body["code"] == "invalid_idempotency_key"
    status, body = await mp.call("POST", "/api/mp/coupons/nope/grab", token=token)
    assert status == 403 and body["code"] == "not_member"  # members only, before anything else is looked up
    wrong = await fetch(path, method="GET")
    assert wrong.code == 405 and wrong.headers["Allow"] == "POST"
    metrics = (await fetch("/metrics")).body.decode()
    assert 'route="/api/mp/coupons/(?P<batch_id>[^/]+)/grab"' in metrics and batch["_id"] not in metrics
