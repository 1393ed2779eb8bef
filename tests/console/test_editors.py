"""Accounts: admins manage their own subtree only; every change is audited with before/after; the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from core.deps import Deps
from tests.console.conftest import CITY_A, CITY_B, PASSWORD, Client, MakeEditor, audit_count

ROOT = Path(__file__).resolve().parents[2]


async def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, **kw)


async def test_city_admin_manages_only_their_subtree(client: Client, deps: Deps, make_editor: MakeEditor) -> None:
    jinan = await client("jinan_admin", org=CITY_A)
    await make_editor("qingdao_ed", org=CITY_B, role="editor")
    await make_editor("province_ed", role="editor")
    before = await audit_count(deps)
    listing = await jinan.api("GET", "/api/admin/editors")
    assert {r["username"] for r in listing.json["items"]} == {"jinan_admin"}
    for name in ("qingdao_ed", "province_ed"):
        assert (await jinan.api("GET", f"/api/admin/editors/{name}")).status == 404
        assert (await jinan.api("PATCH", f"/api/admin/editors/{name}", {"disabled": True})).status == 404
        assert (
            await jinan.api("POST", f"/api/admin/editors/{name}/password", {"password": "Xyz-12345678"})
        ).status == 404
        assert (await jinan.get(f"/admin/editors/{name}")).status == 404
        assert (await jinan.post(f"/admin/editors/{name}", {"name": "x", "role": "admin", "org": CITY_A})).status == 404
    # creating an account above or beside one's own org is refused
    for org in ("370000", CITY_B):
        resp = await jinan.api(
            "POST", "/api/admin/editors", {"username": "sneaky", "role": "admin", "org": org, "password": PASSWORD}
        )
        assert resp.status == 403 and "本工会及下级工会" in resp.json["message"]
    assert not (await deps.db.editors.find_one({"_id": "qingdao_ed"}))["disabled"]
    assert await deps.db.editors.count_documents({"_id": "sneaky"}) == 0
    assert await audit_count(deps) == before


async def test_only_admins_manage_accounts(client: Client) -> None:
    ed = await client("plain_editor", org=CITY_A, role="editor")
    assert (await ed.api("GET", "/api/admin/editors")).status == 403
    assert (await ed.get("/admin/editors")).status == 403


async def test_account_changes_are_audited_with_before_and_after(client: Client, deps: Deps) -> None:
    admin = await client("prov_admin")
    liu = {"username": "liu", "name": "刘敏", "role": "editor", "org": CITY_A, "password": PASSWORD}
    resp = await admin.post("/admin/editors/new", {**liu, "password2": PASSWORD})
    assert resp.status == 303, resp.text
    resp = await admin.post("/admin/editors/liu", {"name": "刘敏", "role": "viewer", "org": CITY_A})
    assert resp.status == 303
    entry = await deps.db.audit_log.find_one({"action": "editor.update", "target_id": "liu"})
    assert entry["actor"] == "prov_admin"
    assert entry["before"]["role"] == "editor" and entry["after"]["role"] == "viewer"
    assert "password_hash" not in entry["before"] and "password_hash" not in str(entry)
    created = await deps.db.audit_log.find_one({"action": "editor.create", "target_id": "liu"})
    assert created["after"]["org"] == CITY_A and created["org_path"] == ["370000", CITY_A]
    page = await admin.get(f"/admin/audit/{entry['_id']}")
    assert page.status == 200 and "viewer" in page.text and "editor" in page.text
    listing = await admin.get("/admin/audit?type=editor")
    assert "prov_admin" in listing.text and "修改账号" in listing.text


async def test_form_errors_are_shown_next_to_fields(client: Client, deps: Deps) -> None:
    admin = await client("form_admin")
    resp = await admin.post(
        "/admin/editors/new",
        {"username": "x", "name": "", "role": "editor", "org": CITY_A, "password": PASSWORD, "password2": PASSWORD},
    )
    assert resp.status == 400 and 'data-error-for="username"' in resp.text and "用户名应为" in resp.text
    same = {"username": "form_admin", "name": "重名", "role": "editor", "org": CITY_A, "password": PASSWORD}
    resp = await admin.post("/admin/editors/new", {**same, "password2": PASSWORD})
    assert resp.status == 409 and "已被使用" in resp.text
    weak = {"username": "weak", "name": "弱", "role": "editor", "org": CITY_A, "password": "aaaaaaaaaaaa"}
    resp = await admin.post("/admin/editors/new", {**weak, "password2": "aaaaaaaaaaaa"})
    assert resp.status == 400 and 'data-error-for="password"' in resp.text and "两类" in resp.text
    # an admin cannot demote or disable themselves
    resp = await admin.api("PATCH", "/api/admin/editors/form_admin", {"role": "viewer"})
    assert resp.status == 403 and resp.json["code"] == "self"


async def test_create_admin_command(deps: Deps, tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    raw["mongo"] = {"url": deps.settings.mongo.url, "db": deps.settings.mongo.db}
    raw["demo"]["fake_wechat"] = False
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDGH_")} | {"ADMIN_PW": "First-Root-2025"}
    cmd = [
        sys.executable,
        "-m",
        "tools.create_admin",
        "--config",
        str(config),
        "--username",
        "admin",
        "--org",
        "370000",
        "--password-env",
        "ADMIN_PW",
    ]
    done = await run(cmd, env=env)
    assert done.returncode == 0, done.stderr
    assert "/admin/login" in done.stdout
    doc = await deps.db.editors.find_one({"_id": "admin"})
    assert doc["role"] == "admin" and doc["org_path"] == ["370000"]
    assert doc["password_hash"].startswith("$argon2id$")
    again = await run(cmd, env=env)
    assert again.returncode == 1 and "已被使用" in again.stderr
    weak = await run([*cmd[:-1], "WEAK"], env=env | {"WEAK": "short"})
    assert weak.returncode == 1 and "密码长度" in weak.stderr
    reset = await run([*cmd, "--reset"], env=env | {"ADMIN_PW": "Second-Root-2025"})
    assert reset.returncode == 0, reset.stderr
    from services.editors import accounts as editors

    doc = await deps.db.editors.find_one({"_id": "admin"})
    assert await editors.verify_password(doc["password_hash"], "Second-Root-2025")


async def test_audit_log_is_scoped_like_the_items(client: Client, deps: Deps) -> None:
    province = await client("prov_audit")
    qingdao = await client("qd_audit", org=CITY_B, role="editor")
    jinan = await client("jn_audit", org=CITY_A, role="editor")
    assert (await qingdao.post("/admin/replies/welcome", {"reply_type": "text", "text": "青岛欢迎你"})).status == 303
    assert (await province.post("/admin/replies/default", {"reply_type": "text", "text": "全省默认"})).status == 303
    mine = await jinan.api("GET", "/api/admin/audit")
    assert all(CITY_A in e["org_path"] for e in mine.json["items"])
    others = [e async for e in deps.db.audit_log.find({"action": "reply.update"})] + [
        e async for e in deps.db.audit_log.find({"action": "reply.create"})
    ]
    assert others
    for e in others:
        assert (await jinan.get(f"/admin/audit/{e['_id']}")).status == 404
        assert (await jinan.api("GET", f"/api/admin/audit/{e['_id']}")).status == 404
    assert "青岛欢迎你" not in (await jinan.get("/admin/audit")).text
    listing = await province.api("GET", "/api/admin/audit?type=reply")
    assert {e["org"] for e in listing.json["items"]} == {CITY_B, "370000"}
