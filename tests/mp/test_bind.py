"""Binding a user to a roster member: once per user, once per member, no probing of the roster."""

from __future__ import annotations

import asyncio

from core.deps import Deps
from services.members.roster import import_roster
from tests.mp.conftest import MpClient
from tests.mp.roster_files import ROSTER, csv_bytes


async def _roster(deps: Deps) -> None:
    assert (await import_roster(deps, "370100", csv_bytes(ROSTER), "r.csv")).ok


async def test_bind_by_phone_sets_org_in_profile_and_live_sessions(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    token = await mp.login("o_zhang")
    other_device = await mp.login("o_zhang")
    status, data = await mp.call("POST", "/api/mp/members/bind", {"name": " 张 三 ", "phone": "138 0013 8000"}, token)
    assert status == 200, data
    assert data["bound"] is True
    assert data["member"] == {"name": "张*", "member_no": "J***", "phone": "138****8000"}
    assert [o["code"] for o in data["org_path"]] == ["370000", "370100", "370102", "370102001", "370102001001"]
    assert data["org"]["code"] == "370102001001"
    status, me = await mp.call("GET", "/api/mp/me", token=other_device)
    assert me["bound"] is True and me["org"]["code"] == "370102001001"
    user = await deps.db.mini_users.find_one({"_id": "o_zhang"})
    assert user["member_id"] == "JN0001" and user["org"] == "370102001001"
    assert (await deps.db.members.find_one({"_id": "JN0001"}))["bound_openid"] == "o_zhang"
    # The next login carries the binding too.
    status, login = await mp.call("POST", "/api/mp/login", {"code": mp.fake.state.mint_js_code("o_zhang")})
    assert login["bound"] is True


async def test_bind_by_member_number_and_minority_names(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    token = await mp.login("o_ayi")
    body = {"name": "阿依古丽•买买提", "member_no": "jn0004"}
    status, data = await mp.call("POST", "/api/mp/members/bind", body, token)
    assert status == 200, data
    assert data["org"]["code"] == "370100"


async def test_wrong_data_never_says_which_half_was_wrong(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    token = await mp.login("o_guess")
    wrong_name = await mp.call("POST", "/api/mp/members/bind", {"name": "张四", "phone": "13800138000"}, token)
    unknown_phone = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138999"}, token)
    unknown_no = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "member_no": "JN9999"}, token)
    assert wrong_name == unknown_phone == unknown_no
    assert wrong_name[0] == 400 and wrong_name[1]["code"] == "member_not_found"
    status, data = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "12345678901"}, token)
    assert status == 400 and data["code"] == "invalid_phone" and "11 位" in data["message"]
    for body in ({"name": "张三"}, {"name": "张三", "phone": "13800138000", "member_no": "JN0001"}):
        status, data = await mp.call("POST", "/api/mp/members/bind", body, token)
        assert status == 400 and "二选一" in data["message"]


async def test_a_user_binds_once_and_a_member_to_one_user(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    first, second = await mp.login("o_first"), await mp.login("o_second")
    assert (await mp.call("POST", "/api/mp/members/bind", {"name": "李四", "phone": "13900139000"}, first))[0] == 200
    status, data = await mp.call("POST", "/api/mp/members/bind", {"name": "王五", "phone": "13700137000"}, first)
    assert status == 409 and data["code"] == "already_bound"
    status, data = await mp.call("POST", "/api/mp/members/bind", {"name": "李四", "member_no": "JN0002"}, second)
    assert status == 409 and data["code"] == "member_taken" and "联系所在工会" in data["message"]


async def test_racing_users_for_one_member_exactly_one_wins(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    tokens = [await mp.login(f"o_race{i}") for i in range(12)]
    body = {"name": "王五", "phone": "13700137000"}
    results = await asyncio.gather(*(mp.call("POST", "/api/mp/members/bind", body, t) for t in tokens))
    assert sorted(s for s, _ in results) == [200] + [409] * 11
    assert await deps.db.mini_users.count_documents({"member_id": "JN0003"}) == 1


async def test_one_user_racing_for_two_members_gets_one(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    token = await mp.login("o_greedy")
    bodies = [{"name": "王五", "phone": "13700137000"}, {"name": "李四", "phone": "13900139000"}] * 2
    results = await asyncio.gather(*(mp.call("POST", "/api/mp/members/bind", b, token) for b in bodies))
    assert sorted(s for s, _ in results) == [200, 409, 409, 409]
    assert await deps.db.mini_users.count_documents({"member_id": {"$exists": True}}) == 1


async def test_guessing_is_rate_limited(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    token = await mp.login("o_prober")
    for i in range(5):
        status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": f"1390000000{i}"}, token)
        assert status == 400
    status, data = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138000"}, token)
    assert status == 429 and "10 分钟" in data["message"]


async def test_binding_shares_the_org_with_the_linked_follower(mp: MpClient, deps: Deps) -> None:
    await _roster(deps)
    await deps.db.followers.insert_one({"_id": "oa_zhao", "subscribed": True, "unionid": "u_zhao", "tags": []})
    token = await mp.login("o_zhao", unionid="u_zhao")
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "赵六", "member_no": "JN0005"}, token)
    assert status == 200
    follower = await deps.db.followers.find_one({"_id": "oa_zhao"})
    assert follower["org"] == "370116" and follower["org_path"] == ["370000", "370100", "370116"]


async def test_org_pickers(mp: MpClient) -> None:
    status, data = await mp.call("GET", "/api/mp/orgs/370100")
    assert status == 200 and data["name"] == "济南市总工会" and data["parent"] == "370000"
    assert [o["code"] for o in data["path"]] == ["370000", "370100"]
    assert "370116" in [c["code"] for c in data["children"]]
    status, data = await mp.call("GET", "/api/mp/orgs/370000/children")
    assert status == 200 and len(data["items"]) == 16
    for bad in ("999999", "abc", "%E4%B8%AD"):
        status, data = await mp.call("GET", f"/api/mp/orgs/{bad}")
        assert status == 404 and data["code"] == "org_not_found"
