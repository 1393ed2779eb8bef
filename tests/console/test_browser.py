"""Browser tests: Playwright drives Debian's Chromium against the app on a loopback port.

An editor logs in, creates a poll, schedules a push and watches its progress bar reach 100% without
reloading; a city editor is refused another city's item. Screenshots of the main pages (desktop and
phone) are saved under tests/artifacts/ for people to look at.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from services.activities import definitions as activity_admin
from services.editors import accounts as editors
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.settings import admin as settings_admin
from tests.console.conftest import CITY_A, CITY_B, PASSWORD
from tests.mp.polls_helpers import make_poll
from tests.support.followers import store_followers

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def login(page: Any, base: str, username: str) -> None:
    await page.goto(base + "/admin/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/admin/")


async def seed(deps: Deps, fake: Any, n: int = 240) -> None:
    for username, org, role in (("jinan", CITY_A, "admin"), ("qingdao", CITY_B, "editor")):
        await editors.create(deps.db, None, {"username": username, "name": f"{username}编辑", "role": role,
                                             "org": org, "password": PASSWORD})  # fmt: skip
    openids = [f"o_browser_{i:04d}" for i in range(n)]
    fake.state.add_followers(openids)
    await store_followers(deps, [{"_id": o, "subscribed": True, "org": CITY_A, "org_path": ["370000", CITY_A],
                                  "tags": [], "last_interaction_at": now()} for o in openids])  # fmt: skip


async def test_editor_creates_a_poll_and_watches_a_push_reach_100(
    browser: Any, app_server: str, deps: Deps, fake_wechat: Any
) -> None:
    await seed(deps, fake_wechat)
    fake_wechat.state.set_delay("cgi-bin/message/template/send", 0.4)  # slow enough to watch the bar move
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(app_server + "/admin/")
    await page.wait_for_url("**/admin/login**")
    await shot(page, "01-login")
    await login(page, app_server, "jinan")
    await shot(page, "02-home")

    # create a poll through the form
    await page.click("nav.side >> text=投票")
    await page.click("text=新建投票")
    await page.fill("#f-title", "最美一线职工")
    await page.fill("#f-options", "张师傅\n李工程师\n王班长")
    await page.fill("#f-closes_at", (now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    await page.check("input[name=publish]")
    await shot(page, "03-poll-new")
    await page.click("button:has-text('创建投票')")
    await page.wait_for_selector("h1:has-text('最美一线职工')")
    assert await page.locator(".badge:has-text('已发布')").count() == 1
    assert "投票已创建并发布" in await page.inner_text(".alert.ok")
    await shot(page, "04-poll-detail")
    assert await deps.db.polls.count_documents({"title": "最美一线职工", "org": CITY_A}) == 1

    # compose a template push to all of Jinan's followers, send now
    await page.click("nav.side >> text=消息推送")
    await page.click("text=新建推送")
    await page.fill("#f-title", "健步走活动通知")
    await page.select_option("#f-template_id", "TPL_ACTIVITY_NOTICE")
    await page.fill("#f-tpl_TPL_ACTIVITY_NOTICE_thing1", "春季职工健步走")
    await page.fill("#f-tpl_TPL_ACTIVITY_NOTICE_time2", "5月1日 9:00")
    await page.fill("#f-template_miniprogram_page", "pages/activity/detail?id=1")
    await shot(page, "05-push-compose")
    await page.click("button[data-send]")
    # a confirmation names the count and the kind before anything is sent
    await page.wait_for_selector("#confirm")
    assert "将向 240 人发送模板消息" in await page.inner_text("#confirm")
    assert fake_wechat.state.delivered_count("template") == 0
    await shot(page, "05b-push-confirm")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#confirm button[data-action=submit]")
    await page.wait_for_selector("[data-action=pause]")
    await page.wait_for_selector("[data-progress-url]")
    await page.evaluate("window.__sameDocument = true")
    # the bar moves while the page stays the same document (it polls the progress JSON)
    await page.wait_for_function(
        "() => window.__sameDocument && parseInt(document.querySelector('[data-field=sent]').textContent) > 0",
        timeout=20000,
    )
    await page.wait_for_timeout(700)  # let the bar's width transition finish before the picture
    await shot(page, "06-push-progress")
    # when the run is done the page reloads once to show the final record
    await page.wait_for_function(
        "() => document.querySelector('[data-field=percent]').textContent.trim() === '100.0%'"
        " && document.querySelector('[data-field=status]').textContent.includes('已完成')",
        timeout=30000,
    )
    await page.wait_for_selector("h1 .badge:has-text('已完成')", timeout=15000)  # settled with the final record
    assert await page.locator("[data-action=pause], [data-action=cancel]").count() == 0
    await page.wait_for_selector("tr[data-run] td:has-text('已完成')", timeout=15000)  # the reload's final record
    assert await page.locator("tr[data-run] td:has-text('已完成')").count() == 1
    await shot(page, "07-push-done")
    assert await page.inner_text("[data-field=sent]") == "240"
    assert fake_wechat.state.delivered_count("template") == 240
    assert errors == []
    await context.close()


async def test_city_editor_is_refused_another_citys_item(
    browser: Any, app_server: str, deps: Deps, fake_wechat: Any
) -> None:
    await seed(deps, fake_wechat, n=3)
    poll = await make_poll(deps, org=CITY_A, title="济南市劳模评选")
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = await context.new_page()
    await login(page, app_server, "qingdao")
    await page.goto(app_server + "/admin/polls")
    assert "济南市劳模评选" not in await page.content()
    # the org switcher only offers Qingdao's own subtree
    options = await page.locator(".orgbar select[name=org] option").all_inner_texts()
    assert any("市南区" in o for o in options) and not any("济南" in o or "历下" in o for o in options)
    resp = await page.goto(app_server + f"/admin/polls/{poll['_id']}")
    assert resp is not None and resp.status == 404  # looks exactly like a missing poll
    assert "投票不存在，或不属于本工会及下级工会" in await page.inner_text("[data-error-message]")
    await shot(page, "08-refused")
    resp = await page.goto(app_server + f"/api/admin/polls/{poll['_id']}/results")
    assert resp is not None and resp.status in (403, 404)
    await context.close()


async def test_screenshots_of_the_main_pages(browser: Any, app_server: str, deps: Deps, fake_wechat: Any) -> None:
    """Every main page renders without a script error, on a desktop and on a phone."""
    await seed(deps, fake_wechat, n=3)
    await make_poll(deps, org=CITY_A, title="职工最喜爱的食堂菜")
    data = {"org": CITY_A, "title": "劳动技能竞赛报名", "signup_deadline": now() + timedelta(days=2),
            "sessions": [{"id": "s1", "title": "初赛", "starts_at": now() + timedelta(days=3),
                          "ends_at": now() + timedelta(days=3, hours=3), "capacity": 30}]}  # fmt: skip
    activity = await activity_admin.create_activity(deps, data, editor_org=None)
    await activity_admin.publish_activity(deps, activity["_id"], editor_org=None)
    pages = [("replies", "/admin/replies"), ("menu", "/admin/menu"), ("polls", "/admin/polls"),
             ("survey-new", "/admin/surveys/new"), ("activity", f"/admin/activities/{activity['_id']}"),
             ("activity-new", "/admin/activities/new"), ("roster", "/admin/members/import"),
             ("qrcodes", "/admin/qrcodes"), ("audit", "/admin/audit"), ("editors", "/admin/editors"),
             ("pushes", "/admin/pushes")]  # fmt: skip
    for device, viewport in (("desktop", {"width": 1280, "height": 860}), ("phone", {"width": 390, "height": 844})):
        context = await browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=device == "phone")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        await login(page, app_server, "jinan")
        for name, path in pages if device == "desktop" else pages[:4]:
            resp = await page.goto(app_server + path)
            assert resp is not None and resp.status == 200, (path, resp and resp.status)
            await shot(page, f"{device}-{name}")
        if device == "phone":
            await page.click("[data-toggle-nav]")
            assert await page.is_visible("nav.side a:has-text('消息推送')")
            await shot(page, "phone-nav-open")
        else:  # the survey builder turns the JSON into a form
            await page.goto(app_server + "/admin/surveys/new")
            await page.click("button[data-add=multiple]")
            assert await page.locator("fieldset.question").count() == 2
        assert errors == [], errors
        await context.close()


async def test_city_editor_sees_sources_sets_a_value_and_meets_a_lock(
    browser: Any, app_server: str, deps: Deps
) -> None:
    await editors.create(deps.db, None, {"username": "qd_settings", "name": "青岛编辑", "role": "editor",
                                         "org": CITY_B, "password": PASSWORD})  # fmt: skip
    province = Scope(Editor("prov", "省总", "admin", "370000", ("370000",)), "370000")
    await settings_admin.change(deps, province, "contact.hotline", "12351", locked=True)
    page = await browser.new_page()
    await login(page, app_server, "qd_settings")
    await page.goto(app_server + "/admin/settings")
    row = page.locator('tr[data-key="contact.hotline"]')
    assert await row.locator(".source").inner_text() == "山东省总工会锁定"
    assert "上级已锁定" in await row.inner_text()
    suffix = page.locator('tr[data-key="brand.name_suffix"]')
    assert await suffix.locator(".source").inner_text() == "系统默认"
    await suffix.locator("input[name=value]").fill("·青岛行")
    await suffix.locator("button[type=submit]").first.click()
    await page.wait_for_url(app_server + "/admin/settings")
    suffix = page.locator('tr[data-key="brand.name_suffix"]')
    assert await suffix.locator(".source").inner_text() == "本级设置"
    assert "·青岛行" in await suffix.inner_text()
    await shot(page, "settings-city")
    await page.close()
