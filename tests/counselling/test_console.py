"""The console side over HTTP: a counsellor sees only their own bookings; editors see counts only."""

from __future__ import annotations

import pytest

from core.deps import Deps
from core.errors import Conflict
from services.counselling import booking
from tests.console.conftest import Client
from tests.counselling.conftest import EVERY_DAY, INTAKE, late_slots, member


async def test_a_counsellor_cannot_read_another_counsellors_booking(deps: Deps, client: Client) -> None:
    wu = await client("wu_xl", org="370100", role="counsellor")
    xu = await client("xu_xl", org="370100", role="counsellor")
    admin = await client("jn_admin", org="370100", role="admin")
    for c in (wu, xu):
        resp = await c.api("PUT", "/api/admin/counselling/availability", {"rules": EVERY_DAY, "slot_minutes": 50})
        assert resp.status == 200 and resp.json["new_slots"] > 100, resp.text
    alice = member("private")
    held = await booking.hold(deps, alice, (await late_slots(deps, "wu_xl", 1))[0])
    await booking.confirm(deps, alice, held["id"], INTAKE)
    path = f"/api/admin/counselling/bookings/{held['id']}"

    own = await wu.api("GET", path)
    assert own.status == 200 and own.json["contact"] == "13800138000" and own.json["topic"] == INTAKE["topic"]
    other = await xu.api("GET", path)
    assert other.status == 404 and other.json["code"] == "booking_not_found"
    assert (await xu.api("POST", path, {"action": "no_show"})).status == 404
    assert (await xu.api("GET", "/api/admin/counselling/bookings")).json["items"] == []
    assert [b["id"] for b in (await wu.api("GET", "/api/admin/counselling/bookings")).json["items"]] == [held["id"]]
    page = await xu.get("/admin/counselling")
    assert page.status == 200 and "13800138000" not in page.text and "暂无预约" in page.text
    page = await wu.get("/admin/counselling")
    assert page.status == 200 and "13800138000" in page.text
    # the union's admin: no booking at all, counts only
    denied = await admin.api("GET", path)
    assert denied.status == 403 and denied.json["code"] == "counsellor_only"
    report = await admin.api("GET", "/api/admin/counselling/reports")
    assert report.status == 200 and "13800138000" not in report.text and held["id"] not in report.text
    totals = report.json["totals"].values()
    assert None in totals and all(c is None or c["people"] == 0 for c in totals)  # 1 person: hidden
    # too early to mark a no-show; the counsellor's changes are audited
    early = await wu.api("POST", path, {"action": "no_show"})
    assert early.status == 409 and early.json["code"] == "not_started"
    entries = await deps.db.audit_log.find({"target_type": "counselling"}).to_list(None)
    assert {e["actor"] for e in entries} == {"wu_xl", "xu_xl"} and all("13800138000" not in str(e) for e in entries)


async def test_counsellors_land_on_their_desk_and_editors_on_reports(client: Client) -> None:
    c = await client("desk_xl", org="370100", role="counsellor")
    home = await c.get("/admin/")
    assert home.status == 302 and home.location == "/admin/counselling"
    assert (await c.get("/admin/polls")).location == "/admin/counselling"
    assert (await c.api("GET", "/api/admin/counselling/reports")).status == 403
    editor = await client("desk_editor", org="370100", role="editor")
    assert (await editor.get("/admin/counselling")).location == "/admin/counselling/reports"
    page = await editor.get("/admin/counselling/reports")
    assert page.status == 200 and "少于 5 人" in page.text


async def test_a_counsellor_blocks_one_slot_and_workers_cannot_book_it(deps: Deps, client: Client) -> None:
    c = await client("leave_xl", org="370100", role="counsellor")
    await c.api("PUT", "/api/admin/counselling/availability", {"rules": EVERY_DAY, "slot_minutes": 50})
    slot = (await late_slots(deps, "leave_xl", 1))[0]
    resp = await c.api("POST", "/api/admin/counselling/slots", {"slot_id": slot, "blocked": True})
    assert resp.status == 200 and resp.json["state"] == "blocked"
    page = await booking.list_slots(deps, member("leave"), "leave_xl", "", 50)
    assert slot not in {s["id"] for s in page["items"]}
    with pytest.raises(Conflict) as closed:
        await booking.hold(deps, member("leave"), slot)
    assert closed.value.code == "slot_closed"
    other = await client("other_xl", org="370100", role="counsellor")
    refused = await other.api("POST", "/api/admin/counselling/slots", {"slot_id": slot, "blocked": False})
    assert refused.status == 404  # not theirs
    assert (await c.api("POST", "/api/admin/counselling/slots", {"slot_id": slot, "blocked": False})).status == 200
    assert (await booking.hold(deps, member("leave"), slot))["status"] == "held"
    busy = await c.api("POST", "/api/admin/counselling/slots", {"slot_id": slot, "blocked": True})
    assert busy.status == 409 and busy.json["code"] == "slot_busy"  # held by a worker: not taken away
