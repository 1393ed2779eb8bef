"""Browser test (Playwright, Debian's Chromium): an editor finds a member by search, corrects the
phone number and unbinds the member's WeChat account from the console pages."""

from __future__ import annotations

from typing import Any

from core.deps import Deps
from services.editors import accounts as editors
from services.members.roster import import_roster
from tests.console.conftest import CITY_A, PASSWORD
from tests.console.test_browser import browser, login, pytestmark, shot  # noqa: F401 - fixture, skip mark
from tests.mp.conftest import MpClient
from tests.mp.roster_files import HEADER, csv_bytes


async def test_editor_searches_edits_and_unbinds_a_member(
    browser: Any,  # noqa: F811 - the fixture
    app_server: str,
    deps: Deps,
    mp: MpClient,
) -> None:
    rows = [HEADER, *([f"JN{i:04d}", f"职工{i}", f"1380013{i:04d}", ""] for i in range(60))]
    rows.append(["JN9001", "张三", "13800138000", ""])
    assert (await import_roster(deps, CITY_A, csv_bytes(rows), "r.csv")).ok
    token = await mp.login("o_mp_browser")
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "member_no": "JN9001"}, token)
    assert status == 200
    await editors.create(deps.db, None, {"username": "jn_hr", "name": "济南会员编辑", "role": "editor",
                                         "org": CITY_A, "password": PASSWORD})  # fmt: skip
    page = await (await browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())  # the unbind confirmation
    await login(page, app_server, "jn_hr")

    await page.click("nav.side >> text=会员管理")
    assert await page.locator("tr[data-member]").count() == 50  # a page of 50, then 下一页
    assert await page.locator("text=下一页").count() == 1
    await page.fill("#q", "张三")
    await page.click("button:has-text('搜索')")
    assert await page.locator("tr[data-member]").count() == 1
    assert "138****8000" in await page.locator("tr[data-member='JN9001']").inner_text()
    await shot(page, "members-01-search")

    await page.click("text=JN9001")
    await page.fill("#f-phone", "13900139000")
    await page.click("button:has-text('保存')")
    await page.wait_for_selector("text=会员信息已保存")
    assert await page.input_value("#f-phone") == "13900139000"
    assert (await deps.db.members.find_one({"_id": "JN9001"}))["phone"] == "13900139000"

    assert await page.inner_text("[data-bound]") == "已绑定"
    await page.click("[data-unbind]")
    await page.wait_for_selector("text=已解除绑定")
    assert await page.inner_text("[data-bound]") == "未绑定"
    assert "member_id" not in (await deps.db.mini_users.find_one({"_id": "o_mp_browser"}))
    await shot(page, "members-02-unbound")
    assert errors == []
