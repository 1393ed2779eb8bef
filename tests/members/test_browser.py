"""Browser tests (Playwright, Debian's Chromium): an editor finds a member by search, corrects the
phone number and unbinds the member's WeChat account; a push preview's follower picked by name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.editors import accounts as editors
from services.members.roster import import_roster
from services.pushes import compose as pushes
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


async def test_push_preview_target_is_picked_by_name(
    browser: Any,  # noqa: F811 - the fixture
    app_server: str,
    deps: Deps,
    mp: MpClient,
) -> None:
    assert (await import_roster(deps, CITY_A, csv_bytes([HEADER, ["JN0001", "李四", "13800138000", ""]]), "r.csv")).ok
    await deps.db.followers.insert_one({"_id": "o_oa_li", "subscribed": True, "unionid": "u_li"})
    token = await mp.login("o_mp_li", unionid="u_li")
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "李四", "member_no": "JN0001"}, token)
    assert status == 200
    later = {"kind": "at", "at": (now() + timedelta(days=1)).isoformat()}
    data = {"title": "预览测试", "channel": "custom", "content": {"msgtype": "text", "text": "你好"},
            "audience": {"kind": "all"}, "schedule": later}  # fmt: skip
    push = await pushes.create(deps, {**data, "org": CITY_A}, editor_org=CITY_A, editor="seed")
    await editors.create(deps.db, None, {"username": "jn_push_pv", "name": "济南推送编辑", "role": "editor",
                                         "org": CITY_A, "password": PASSWORD})  # fmt: skip
    page = await (await browser.new_context(locale="zh-CN")).new_page()
    await login(page, app_server, "jn_push_pv")
    await page.goto(f"{app_server}/admin/pushes/{push['id']}")
    await page.fill("[data-people-search] input", "李四")
    await page.click("[data-openid='o_oa_li']")
    assert await page.input_value("#preview-openid") == "o_oa_li"
