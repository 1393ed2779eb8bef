"""Pushes through the console: compose, send now to the fake platform, live progress to 100%, report, scope."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.pushes import compose as pushes
from tests.console.conftest import CITY_A, CITY_B, Client, ConsoleClient, audit_count
from tests.support.followers import store_followers


async def add_followers(deps: Deps, fake: Any, org: str, n: int, prefix: str) -> list[str]:
    openids = [f"{prefix}{i:04d}" for i in range(n)]
    fake.state.add_followers(openids)
    path = ["370000", org] if org != "370000" else ["370000"]
    docs = [
        {"_id": o, "subscribed": True, "org": org, "org_path": path, "tags": [], "last_interaction_at": now()}
        for o in openids
    ]
    await store_followers(deps, docs)
    return openids


def compose(**kw: str) -> dict[str, str]:
    return {
        "title": "活动通知：健步走",
        "channel": "template",
        "template_id": "TPL_ACTIVITY_NOTICE",
        "tpl_TPL_ACTIVITY_NOTICE_thing1": "春季健步走",
        "tpl_TPL_ACTIVITY_NOTICE_time2": "2025年5月1日 9:00",
        "template_miniprogram_page": "pages/activity/detail?id=1",
        "audience": "all",
        "schedule": "now",
        "action": "send",
        "form_key": "pushform0001",
        **kw,
    }


async def post_multipart(c: ConsoleClient, path: str, fields: dict[str, str]) -> Any:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("_xsrf", c.csrf)
    for k, v in fields.items():
        form.add_field(k, v)
    return await c.request("POST", path, data=form)


async def wait_finished(c: ConsoleClient, push_id: str, seconds: float = 30) -> dict[str, Any]:
    seen: list[float] = []
    for _ in range(int(seconds / 0.2)):
        p = (await c.api("GET", f"/api/admin/pushes/{push_id}/progress")).json
        seen.append(p["percent"])
        if p["finished"]:
            return p
        await asyncio.sleep(0.2)
    raise AssertionError(f"push not finished: {seen[-5:]}")


async def confirm_send(c: Any, location: str, expected: str) -> str:
    """The composer's "保存并提交" leads to the confirmation naming the count; confirming sends."""
    assert location.endswith("#confirm"), location
    page_url = location.removesuffix("#confirm")
    page = await c.get(page_url)
    assert page.status == 200 and expected in page.text, page.text[:2000]
    sent = await c.post(page_url, {"action": "submit"})
    assert sent.status == 303, sent.text[:1000]
    return page_url.rsplit("/", 1)[1]


async def test_compose_send_now_progress_reaches_100_and_report(client: Client, deps: Deps, fake_wechat: Any) -> None:
    openids = await add_followers(deps, fake_wechat, CITY_A, 40, "o_jn_")
    await add_followers(deps, fake_wechat, CITY_B, 5, "o_qd_")
    c = await client("jn_push", org=CITY_A, role="editor")
    page = await c.get("/admin/pushes/new")
    assert page.status == 200 and "活动通知" in page.text  # the template picker lists the account's templates
    resp = await post_multipart(c, "/admin/pushes/new", compose())
    assert resp.status == 303, resp.text[:3000]
    again = await post_multipart(c, "/admin/pushes/new", compose())
    assert again.location == resp.location  # a double submit creates nothing twice
    assert await deps.db.pushes.count_documents({}) == 1
    push_id = await confirm_send(c, resp.location, "将向 40 人发送模板消息")
    p = await wait_finished(c, push_id)
    assert p["status"] == "done" and p["percent"] == 100.0 and p["sent"] == 40 and p["total"] == 40
    assert fake_wechat.state.delivered_count("template") == 40  # only Jinan's followers
    assert fake_wechat.state.duplicate_deliveries("template") == []
    detail = await c.get(f"/admin/pushes/{push_id}")
    assert detail.status == 200 and "已完成" in detail.text and "data-progress-url" in detail.text
    assert "送达回执" in detail.text and 'data-field="receipt_delivered"' in detail.text  # WeChat's reports, live
    report = await c.get(f"/admin/pushes/{push_id}/report.csv")
    rows = list(csv.reader(io.StringIO(report.text.lstrip("\ufeff"))))
    assert rows[0][:2] == ["openid", "结果"] and sorted(r[0] for r in rows[1:]) == openids
    assert all(r[1] == "已发送" for r in rows[1:])
    actions = [e["action"] async for e in deps.db.audit_log.find({"target_id": push_id}).sort("_id", 1)]
    assert actions == ["push.create", "push.schedule"]


async def test_schedule_pause_resume_cancel_and_form_errors(client: Client, deps: Deps, fake_wechat: Any) -> None:
    c = await client("jn_push2", org=CITY_A, role="editor")
    at = (now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    resp = await post_multipart(c, "/admin/pushes/new", compose(schedule="at", at=at, form_key="pushform0002"))
    assert resp.status == 303
    push_id = await confirm_send(c, resp.location, "发送对象中目前没有可接收消息的人")  # may fill by then
    assert (await deps.db.pushes.find_one({"_id": push_id}))["status"] == "scheduled"
    page_url = f"/admin/pushes/{push_id}"
    for action, status in (("pause", "paused"), ("resume", "scheduled"), ("cancel", "cancelled")):
        r = await c.post(page_url, {"action": action})
        assert r.status == 303, (action, r.text[:500])
        assert (await deps.db.pushes.find_one({"_id": push_id}))["status"] == status
    r = await c.post(page_url, {"action": "resume"})
    assert r.status == 409 and "暂停" in r.text
    bad = await post_multipart(
        c, "/admin/pushes/new", compose(schedule="cron", cron="*/5 * * * *", form_key="pushform0003")
    )
    assert bad.status == 400 and "1 小时" in bad.text and 'value="活动通知：健步走"' in bad.text
    bad = await post_multipart(
        c, "/admin/pushes/new", compose(template_id="", template_data="没有等号", form_key="pushform0004")
    )
    assert bad.status == 400 and "字段=内容" in bad.text
    bad = await c.api("POST", "/api/admin/pushes", {"title": "x", "channel": "fax"})
    assert bad.status == 400 and bad.json["code"] == "invalid_push"
    assert await deps.db.pushes.count_documents({}) == 1


async def test_city_editor_cannot_see_or_steer_other_pushes(client: Client, deps: Deps) -> None:
    data = {
        "title": "青岛推送",
        "channel": "custom",
        "content": {"msgtype": "text", "text": "你好"},
        "audience": {"kind": "all"},
        "schedule": {"kind": "at", "at": (now() + timedelta(days=1)).isoformat()},
    }
    qd = await pushes.create(deps, {**data, "org": CITY_B}, editor_org="370000", editor="seed")
    prov = await pushes.create(deps, {**data, "title": "全省推送", "org": "370000"}, editor_org="370000", editor="seed")
    c = await client("jn_push3", org=CITY_A, role="editor")
    before = await audit_count(deps)
    snapshot = await deps.db.pushes.find({}).to_list()
    for push in (qd, prov):
        pid = push["id"]
        for path in (f"/admin/pushes/{pid}", f"/admin/pushes/{pid}/edit", f"/admin/pushes/{pid}/report.csv"):
            assert (await c.get(path)).status == 404, path
        for action in ("submit", "cancel", "preview"):
            assert (await c.post(f"/admin/pushes/{pid}", {"action": action, "openid": "o_test_0001"})).status == 404
        for method, path, body in (
            ("GET", f"/api/admin/pushes/{pid}", None),
            ("GET", f"/api/admin/pushes/{pid}/progress", None),
            ("PATCH", f"/api/admin/pushes/{pid}", {"title": "改"}),
            ("POST", f"/api/admin/pushes/{pid}/cancel", {}),
            ("POST", f"/api/admin/pushes/{pid}/preview", {"openid": "o_test_0001"}),
        ):
            resp = await c.api(method, path, body)
            assert resp.status == 404 and resp.json["code"], (method, path)
    assert (await c.api("GET", "/api/admin/pushes")).json["items"] == []
    resp = await c.api("POST", "/api/admin/pushes", {**data, "org": CITY_B})
    assert resp.status == 404
    resp = await c.api("POST", "/api/admin/pushes", {**data, "audience": {"kind": "orgs", "orgs": [CITY_B]}})
    assert resp.status == 400 and "不在您管理的范围内" in resp.json["message"]
    assert await deps.db.pushes.find({}).to_list() == snapshot
    assert await audit_count(deps) == before


async def test_progress_says_when_a_quota_pause_ends(client: Client, deps: Deps, fake_wechat: Any) -> None:
    await add_followers(deps, fake_wechat, CITY_A, 30, "o_quota_")
    fake_wechat.state.set_quota("cgi-bin/message/template/send", daily=10)
    c = await client("jn_push4", org=CITY_A, role="editor")
    resp = await post_multipart(c, "/admin/pushes/new", compose(form_key="pushform0009"))
    push_id = await confirm_send(c, resp.location, "将向 30 人发送模板消息")
    for _ in range(150):
        p = (await c.api("GET", f"/api/admin/pushes/{push_id}/progress")).json
        if p["status"] == "quota_paused":
            break
        await asyncio.sleep(0.2)
    assert p["status"] == "quota_paused" and not p["finished"], p
    assert p["sent"] == 10 and p["paused_until"] and "自动继续" in p["note"]
    page = await c.get(f"/admin/pushes/{push_id}")
    assert "今日额度已用完" in page.text and "自动继续" in page.text


async def test_a_push_to_nobody_is_refused_before_it_is_sent(client: Client, deps: Deps, fake_wechat: Any) -> None:
    await add_followers(deps, fake_wechat, CITY_B, 5, "o_qd_only_")  # Qingdao's, not Jinan's
    c = await client("jn_push_empty", org=CITY_A, role="editor")
    resp = await post_multipart(c, "/admin/pushes/new", compose(form_key="pushform0010"))
    page_url = resp.location.removesuffix("#confirm")
    page = await c.get(page_url)
    assert "发送对象中目前没有可接收消息的人" in page.text and 'value="submit"' not in page.text
    refused = await c.post(page_url, {"action": "submit"})
    assert refused.status == 400 and "没有可接收消息的人" in refused.text
    push_id = page_url.rsplit("/", 1)[1]
    assert (await deps.db.pushes.find_one({"_id": push_id}))["status"] == "draft"
    assert fake_wechat.state.delivered_count("template") == 0
