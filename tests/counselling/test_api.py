"""The mini-program API end to end: list, hold, confirm with the intake, cancel, mine; Chinese 4xx."""

from __future__ import annotations

from core.deps import Deps
from services.members.sessions import CurrentUser
from tests.counselling.conftest import INTAKE, Api, make_counsellor, member, token_for


async def test_the_booking_flow_over_http(deps: Deps, api: Api) -> None:
    await make_counsellor(deps, "api_xl", org="370100")
    token = await token_for(deps, member("api", ("370000", "370100", "370102")))
    code, counsellors = await api.call("GET", "/api/mp/counselling/counsellors", token)
    assert code == 200 and [c["id"] for c in counsellors["items"]] == ["api_xl"]
    code, page = await api.call("GET", "/api/mp/counselling/slots?counsellor=api_xl&limit=3", token)
    assert code == 200 and len(page["items"]) == 3 and page["next_cursor"]
    code, page2 = await api.call("GET", f"/api/mp/counselling/slots?limit=3&cursor={page['next_cursor']}", token)
    assert code == 200 and page2["items"][0]["starts_at"] > page["items"][-1]["starts_at"]
    slot = page2["items"][-1]["id"]
    code, held = await api.call("POST", f"/api/mp/counselling/slots/{slot}/hold", token)
    assert code == 201 and held["status"] == "held" and held["hold_expires_at"]
    confirm = f"/api/mp/counselling/bookings/{held['id']}/confirm"
    code, err = await api.call("POST", confirm, token, INTAKE | {"contact": "12345"})
    assert code == 400 and err["code"] == "contact" and "电话" in err["message"]
    code, err = await api.call("POST", confirm, token, {k: v for k, v in INTAKE.items() if k != "urgent"})
    assert code == 400 and err["code"] == "invalid_field"
    code, done = await api.call("POST", confirm, token, INTAKE)
    assert code == 200 and done["status"] == "confirmed" and done["status_text"] == "已预约"
    assert "contact" not in done  # the worker's own contact is not echoed back
    code, err = await api.call("POST", f"/api/mp/counselling/slots/{page['items'][0]['id']}/hold", token)
    assert code == 409 and err["code"] == "active_booking" and "未结束" in err["message"]
    code, home = await api.call("GET", "/api/mp/counselling/bookings/active", token)
    assert code == 200 and home["booking"]["id"] == held["id"] and home["booking"]["status"] == "confirmed"
    code, mine = await api.call("GET", "/api/mp/counselling/bookings", token)
    assert code == 200 and [b["id"] for b in mine["items"]] == [held["id"]] and mine["next_cursor"] is None
    code, cancelled = await api.call("POST", f"/api/mp/counselling/bookings/{held['id']}/cancel", token)
    assert code == 200 and cancelled["status"] == "cancelled"
    assert (await api.call("GET", "/api/mp/counselling/bookings/active", token))[1] == {"booking": None}
    other = await token_for(deps, member("other"))
    code, err = await api.call("POST", f"/api/mp/counselling/bookings/{held['id']}/cancel", other)
    assert code == 404 and err["message"] == "预约不存在"


async def test_unbound_workers_are_asked_to_bind_first(deps: Deps, api: Api) -> None:
    token = await token_for(deps, CurrentUser("o_guest"))
    code, err = await api.call("GET", "/api/mp/counselling/counsellors", token)
    assert code == 403 and err["code"] == "members_only" and "绑定" in err["message"]
    assert await api.call("GET", "/api/mp/counselling/bookings/active", token) == (200, {"booking": None})
