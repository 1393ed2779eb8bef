"""The venue check-in screen: a code per session that rotates every 30 s and is valid for 60 s,
shown as a QR image; an expired code is refused in Chinese, a current one checks the worker in
through the mini-program API, and the screen's count follows, also after the state is rebuilt."""

from __future__ import annotations

import re
from datetime import timedelta

from core.clock import now
from core.deps import Deps
from services.activities import signups, venue
from services.activities.flusher import flush_all
from services.activities.live import prefix
from tests.console.conftest import CITY_A, CITY_B, Client
from tests.mp.conftest import MpClient
from tests.mp_activities.conftest import FORM, member
from tests.mp_activities.test_checkin import make, soon


async def test_codes_rotate_every_30_s_and_last_60_s(deps: Deps) -> None:
    t = now().replace(microsecond=0)
    t = t - timedelta(seconds=int(t.timestamp()) % 30)  # a window's first second
    first, expires, next_at = venue.rotating_code(deps, "ac000000000001", "s1", t)
    assert venue.rotating_code(deps, "ac000000000001", "s1", t + timedelta(seconds=29))[0] == first
    second = venue.rotating_code(deps, "ac000000000001", "s1", t + timedelta(seconds=30))[0]
    assert second != first
    assert (expires - t).total_seconds() == 60 and (next_at - t).total_seconds() == 30
    assert venue.rotating_code(deps, "ac000000000001", "s2", t)[0] != first  # per session


async def test_the_venue_screen_checks_workers_in(client: Client, deps: Deps, mp: MpClient) -> None:
    aid = await make(deps, soon(capacity=5))
    token = await mp.login("o_mp_venue")
    await signups.sign_up(deps, member("o_mp_venue"), aid, "s1", FORM)
    editor = await client("jn_venue", org=CITY_A, role="viewer")  # reading the screen needs no write right

    shown = await editor.api("GET", f"/api/admin/activities/{aid}/checkin/s1")
    assert shown.status == 200, shown.text
    assert shown.json["qr_svg"].startswith("data:image/svg+xml") and shown.json["confirmed"] == 1
    assert shown.json["checked_in"] == 0
    other_city = await client("qd_venue", org=CITY_B, role="editor")
    assert (await other_city.api("GET", f"/api/admin/activities/{aid}/checkin/s1")).status == 404
    assert (await editor.api("GET", f"/api/admin/activities/{aid}/checkin/s9")).status == 404

    # A photo of an old screen: the code of a window that ended more than 60 s ago.
    old, _, _ = venue.rotating_code(deps, aid, "s1", now() - timedelta(seconds=61))
    status, body = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": old}, token)
    assert status == 409 and body["code"] == "checkin_code_expired" and "已过期" in body["message"]
    forged = shown.json["code"][:-4] + "AAAA"
    status, body = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": forged}, token)
    assert status == 400 and "签到码无效" in body["message"]

    status, body = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": shown.json["code"]}, token)
    assert status == 200 and body["status"] == "checked_in"
    status, body = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": shown.json["code"]}, token)
    assert status == 200 and body["status"] == "already_checked_in"
    assert (await editor.api("GET", f"/api/admin/activities/{aid}/checkin/s1")).json["checked_in"] == 1

    page = await editor.get(f"/admin/activities/{aid}/checkin/s1")
    assert page.status == 200 and re.search(r"data-checked-in>1<", page.text) and "工人文化宫" in page.text

    # Redis lost the activity: the count is rebuilt from MongoDB with the rest of the state.
    await flush_all(deps)
    await deps.redis.delete(*[k async for k in deps.redis.scan_iter(match=prefix(aid) + "*")])
    assert (await editor.api("GET", f"/api/admin/activities/{aid}/checkin/s1")).json["checked_in"] == 1
