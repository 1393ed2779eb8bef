"""Browser test: the venue screen on a projector shows the QR code and counts a check-in live,
without a reload."""

from __future__ import annotations

from typing import Any

from core.deps import Deps
from services.activities import signups
from services.editors import accounts as editors
from tests.console.conftest import CITY_A, PASSWORD
from tests.console.test_browser import browser, login, pytestmark, shot  # noqa: F401 - fixture, skip mark
from tests.mp.conftest import MpClient
from tests.mp_activities.conftest import FORM, member
from tests.mp_activities.test_checkin import make, soon


async def test_the_venue_screen_counts_check_ins_live(
    browser: Any,  # noqa: F811 - the fixture
    app_server: str,
    deps: Deps,
    mp: MpClient,
) -> None:
    aid = await make(deps, soon(capacity=5))
    token = await mp.login("o_mp_screen")
    await signups.sign_up(deps, member("o_mp_screen"), aid, "s1", FORM)
    await editors.create(deps.db, None, {"username": "jn_screen", "name": "济南活动编辑", "role": "editor",
                                         "org": CITY_A, "password": PASSWORD})  # fmt: skip
    page = await (await browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, app_server, "jn_screen")
    await page.goto(f"{app_server}/admin/activities/{aid}/checkin/s1")
    code = await page.get_attribute("[data-qr]", "data-code")
    assert code and await page.inner_text("[data-checked-in]") == "0"
    status, _ = await mp.call("POST", f"/api/mp/activities/{aid}/checkin", {"code": code}, token)
    assert status == 200
    await page.locator("[data-checked-in]", has_text="1").wait_for(timeout=8000)  # no reload: the page polls
    box = await page.locator("[data-qr]").bounding_box()
    assert box is not None and box["width"] > 300  # big enough for a projector
    await shot(page, "venue-checkin")
    assert errors == []
