"""Roster import with the per-row error report, and parametric QR codes through the fake WeChat platform."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import aiohttp
from openpyxl import Workbook

from core.clock import now
from core.deps import Deps
from services.activities import definitions as activity_admin
from tests.console.conftest import CITY_A, CITY_B, Client, ConsoleClient, audit_count

ROSTER = (
    "会员编号,姓名,手机号,工会编码\nJN0001,张三,13800138000,\nJN0002,李四,12345,\n"
    ",王五,13900139000,\nJN0004,赵六,13700137000,370200\n"
)


async def upload(c: ConsoleClient, path: str, name: str, data: bytes, **fields: str) -> Any:
    form = aiohttp.FormData()
    form.add_field("_xsrf", fields.pop("_xsrf", c.csrf))
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await c.request("POST", path, data=form)


async def test_roster_import_reports_each_bad_row(client: Client, deps: Deps) -> None:
    c = await client("jn_roster", org=CITY_A, role="editor")
    resp = await upload(c, "/admin/members/import", "名册.csv", ROSTER.encode("utf-8"))
    assert resp.status == 303, resp.text[:1000]
    report = await c.get(resp.location)
    assert report.status == 200
    assert 'data-row="3"' in report.text and "不正确，应为 11 位手机号" in report.text
    assert 'data-row="4"' in report.text and "会员编号不能为空" in report.text
    assert 'data-row="5"' in report.text and "不属于本工会" in report.text  # a Qingdao code from Jinan
    assert re.search(r"data-inserted>1<", report.text)
    assert await deps.db.members.count_documents({}) == 1
    member = await deps.db.members.find_one({"_id": "JN0001"})
    assert member["org"] == CITY_A and member["phone"] == "13800138000"
    errors_csv = await c.get(resp.location + "/errors.csv")
    rows = list(csv.reader(io.StringIO(errors_csv.text.lstrip("\ufeff"))))
    assert rows[0] == ["行号", "列", "问题"] and [r[0] for r in rows[1:]] == ["3", "4", "5"]
    entry = await deps.db.audit_log.find_one({"action": "roster.import"})
    assert entry["after"]["inserted"] == 1 and entry["after"]["error_count"] == 3 and entry["org"] == CITY_A
    # xlsx, and a dry run imports nothing
    book = Workbook()
    sheet = book.active
    sheet.append(["会员编号", "姓名", "手机号"])
    sheet.append(["JN0009", "钱七", 13600136000])
    buf = io.BytesIO()
    book.save(buf)
    resp = await upload(c, "/admin/members/import", "名册.xlsx", buf.getvalue(), dry_run="1")
    assert "检查结果" in (await c.get(resp.location)).text
    assert await deps.db.members.count_documents({"_id": "JN0009"}) == 0
    api = await upload(c, "/api/admin/members/import", "名册.xlsx", buf.getvalue())
    assert api.status == 200 and api.json["inserted"] == 1 and api.json["errors"] == []


async def test_roster_upload_mistakes_are_explained(client: Client, deps: Deps) -> None:
    c = await client("jn_roster2", org=CITY_A, role="editor")
    resp = await upload(c, "/admin/members/import", "名册.xls", b"\xd0\xcf\x11\xe0")
    assert resp.status == 400 and "另存为" in resp.text and 'data-error-for="file"' in resp.text
    resp = await upload(c, "/admin/members/import", "名册.csv", "姓名,手机号\n张三,13800138000\n".encode())
    assert resp.status == 400 and "缺少表头" in resp.text
    resp = await upload(c, "/admin/members/import", "名册.csv", ROSTER.encode(), _xsrf="forged")
    assert resp.status == 403
    assert await deps.db.members.count_documents({}) == 0
    viewer = await client("jn_roster_v", org=CITY_A, role="viewer")
    assert (await upload(viewer, "/admin/members/import", "名册.csv", ROSTER.encode())).status == 403
    assert await deps.db.members.count_documents({}) == 0


async def test_org_qr_code_created_once_and_downloadable(client: Client, deps: Deps, fake_wechat: Any) -> None:
    c = await client("jn_qr", org=CITY_A, role="editor")
    resp = await c.post("/admin/qrcodes", {"kind": "org", "target": "370102"})  # a county under Jinan
    assert resp.status == 303
    again = await c.api("POST", "/api/admin/qrcodes", {"kind": "org", "target": "370102"})
    assert again.status == 200 and again.json["scene"] == "org:370102"  # reused: permanent codes are scarce
    assert fake_wechat.state.count("cgi-bin/qrcode/create") == 1
    assert fake_wechat.state.ticket_scene(again.json["ticket"]) == "org:370102"
    page = await c.get(resp.location)
    assert page.status == 200 and "org:370102" in page.text and "showqrcode?ticket=" in page.text
    async with c.http.get(c.base + resp.location + "/image.png?download=1") as r:
        body = await r.read()
        assert (
            r.status == 200 and body.startswith(b"\x89PNG") and "filename*=UTF-8''" in r.headers["Content-Disposition"]
        )
    call = fake_wechat.state.calls("cgi-bin/qrcode/create")[0]
    assert call.body["action_name"] == "QR_LIMIT_STR_SCENE"
    # out of scope: another city, the province
    before = await audit_count(deps)
    for target in (CITY_B, "370000"):
        resp = await c.api("POST", "/api/admin/qrcodes", {"kind": "org", "target": target})
        assert resp.status == 404
    assert fake_wechat.state.count("cgi-bin/qrcode/create") == 1 and await audit_count(deps) == before
    other = await client("qd_qr", org=CITY_B, role="editor")
    qr_id = resp_id = (await c.api("GET", "/api/admin/qrcodes")).json["items"][0]["_id"]
    assert (await other.get(f"/admin/qrcodes/{qr_id}")).status == 404
    assert (await other.get(f"/admin/qrcodes/{resp_id}/image.png")).status == 404


async def test_checkin_qr_code_is_temporary_and_needs_a_published_activity(
    client: Client, deps: Deps, fake_wechat: Any
) -> None:
    data = {
        "org": CITY_A,
        "title": "健步走",
        "signup_deadline": now() + timedelta(days=2),
        "sessions": [
            {
                "id": "s1",
                "starts_at": now() + timedelta(days=3),
                "ends_at": now() + timedelta(days=3, hours=2),
                "capacity": 10,
            }
        ],
    }
    doc = await activity_admin.create_activity(deps, data, editor_org=None)
    c = await client("jn_qr2", org=CITY_A, role="editor")
    resp = await c.api("POST", "/api/admin/qrcodes", {"kind": "checkin", "target": doc["_id"]})
    assert resp.status == 400 and "发布后" in resp.json["message"]
    await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)
    resp = await c.post("/admin/qrcodes", {"kind": "checkin", "target": doc["_id"]})
    assert resp.status == 303
    call = fake_wechat.state.calls("cgi-bin/qrcode/create")[-1]
    assert (
        call.body["action_name"] == "QR_STR_SCENE"
        and call.body["action_info"]["scene"]["scene_str"] == f"checkin:{doc['_id']}"
    )
    assert 3 * 86400 < call.body["expire_seconds"] <= 5 * 86400
    bad = await c.api("POST", "/api/admin/qrcodes", {"kind": "wifi", "target": "x"})
    assert bad.status == 400 and bad.json["code"] == "kind"
