"""Login, lockout, sessions (cookie flags, revocation) and CSRF, against the real app, Redis and MongoDB."""

from __future__ import annotations

import asyncio
import re

from yarl import URL

from core.deps import Deps
from services.editors import auth as console_auth
from services.editors import sessions_live as console_sessions
from tests.console.conftest import PASSWORD, Client, ConsoleClient, MakeEditor


async def test_login_sets_a_secure_session_cookie_and_logs_the_login(client: Client, deps: Deps) -> None:
    c = await client()
    await deps.db.editors.delete_many({})
    from services.editors import accounts as editors

    await editors.create(
        deps.db, None, {"username": "zhang", "name": "张三", "role": "editor", "org": "370100", "password": PASSWORD}
    )
    page = await c.get("/admin/login")
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert token
    resp = await c.request(
        "POST", "/admin/login", data={"_xsrf": token.group(1), "username": "ZHANG ", "password": PASSWORD}
    )
    assert resp.status == 303 and resp.location == "/admin/"
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("sdgh_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # public_url is http:// in tests
    home = await c.get("/admin/")
    assert home.status == 200 and "张三" in home.text and "济南市总工会" in home.text
    entry = await deps.db.audit_log.find_one({"action": "session.login"})
    assert entry and entry["actor"] == "zhang" and entry["org_path"] == ["370000", "370100"]
    # the password hash is argon2id, never the password
    doc = await deps.db.editors.find_one({"_id": "zhang"})
    assert doc and doc["password_hash"].startswith("$argon2id$") and PASSWORD not in str(doc)


async def test_secure_flag_when_public_url_is_https(client: Client, deps: Deps) -> None:
    from handlers.console.base import ConsoleMixin

    object.__setattr__(deps.settings.server, "public_url", "https://gh.example.cn")
    try:
        c = await client()
        from services.editors import accounts as editors

        await editors.create(deps.db, None, {"username": "li", "role": "admin", "org": "370000", "password": PASSWORD})
        resp = await c.login("li")
        cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("sdgh_console="))
        assert "Secure" in cookie
    finally:
        object.__setattr__(deps.settings.server, "public_url", "http://127.0.0.1:8080")
    assert ConsoleMixin.public is False


async def test_wrong_password_and_unknown_user_get_the_same_answer(client: Client, make_editor: MakeEditor) -> None:
    await make_editor("wang")
    c = await client()
    wrong = await c.login("wang", "Wrong-password-1")
    unknown = await c.login("nobody", "Wrong-password-1")
    assert wrong.status == unknown.status == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text
    assert 'value="wang"' in wrong.text  # the form keeps the username


async def test_lockout_after_five_failures_says_when_to_retry(client: Client, make_editor: MakeEditor) -> None:
    await make_editor("zhao")
    c = await client()
    for _ in range(3):
        assert (await c.login("zhao", "Wrong-password-1")).status == 401
    fourth = await c.login("zhao", "Wrong-password-1")
    assert "再错 1 次将临时锁定" in fourth.text
    fifth = await c.login("zhao", "Wrong-password-1")
    assert fifth.status == 429 and "已锁定至" in fifth.text and "北京时间" in fifth.text
    assert re.search(r"\d{2}:\d{2}", fifth.text)
    # now even the right password is refused until the lock ends
    right = await c.login("zhao", PASSWORD)
    assert right.status == 429 and "请于" in right.text
    # another account from the same IP is not locked
    await make_editor("qian")
    assert (await c.login("qian")).status == 303


async def test_concurrent_guesses_cannot_pass_the_limit(deps: Deps, make_editor: MakeEditor) -> None:
    await make_editor("sun")
    tries = [console_auth.login(deps, "sun", f"Wrong-password-{i}", "10.0.0.9") for i in range(20)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    codes = [getattr(r, "code", "") for r in results]
    assert codes.count("bad_credentials") + codes.count("locked") == 20
    checked = await deps.db.audit_log.count_documents({"action": "session.login_failed"})
    assert checked <= console_sessions.Limits().per_user  # at most five passwords were ever checked


async def test_per_ip_lockout(deps: Deps, make_editor: MakeEditor) -> None:
    deps.extras["console.login_limits"] = console_sessions.Limits(per_user=100, per_ip=4)
    await make_editor("ip1")
    for i in range(4):
        try:
            await console_auth.login(deps, f"guess{i}", "Wrong-password-1", "10.1.1.1")
        except Exception as exc:  # noqa: BLE001
            assert getattr(exc, "code", "") in ("bad_credentials", "locked")
    try:
        await console_auth.login(deps, "ip1", PASSWORD, "10.1.1.1")
        raise AssertionError("the IP should be locked")
    except Exception as exc:  # noqa: BLE001
        assert getattr(exc, "code", "") == "locked" and "请于" in str(exc)
    session, _ = await console_auth.login(deps, "ip1", PASSWORD, "10.1.1.2")  # another IP is fine
    assert session.token


async def test_logout_revokes_the_session_at_once(client: Client) -> None:
    c = await client("zhou")
    assert (await c.get("/admin/")).status == 200
    cookies = {k: v.value for k, v in c.http.cookie_jar.filter_cookies(URL(c.base)).items()}
    resp = await c.post("/admin/logout")
    assert resp.status == 303 and resp.location == "/admin/login"
    # replaying the old cookie after logout: the server-side session is gone
    replay = ConsoleClient(c.base)
    replay.http.cookie_jar.update_cookies(cookies)
    try:
        assert (await replay.get("/admin/")).status == 302
        assert (await replay.api("GET", "/api/admin/me")).status == 401
    finally:
        await replay.close()


async def test_disabling_an_account_ends_its_sessions(client: Client) -> None:
    admin = await client("admin1")
    victim = await client("wu", role="editor")
    assert (await victim.get("/admin/")).status == 200
    resp = await admin.api("PATCH", "/api/admin/editors/wu", {"disabled": True})
    assert resp.status == 200, resp.text
    assert (await victim.api("GET", "/api/admin/me")).status == 401
    relog = await victim.login("wu")
    assert relog.status == 403 and "已停用" in relog.text


async def test_password_change_ends_other_sessions_but_keeps_this_one(client: Client) -> None:
    pc = await client("zheng", role="editor")
    phone = ConsoleClient(pc.base)
    try:
        assert (await phone.login("zheng")).status == 303
        new = "New-password-2026"
        resp = await pc.post("/admin/password", {"old_password": PASSWORD, "password": new, "password2": new})
        assert resp.status == 303
        assert (await pc.get("/admin/")).status == 200
        assert (await phone.get("/admin/")).status == 302
        assert (await phone.login("zheng", new)).status == 303
    finally:
        await phone.close()


async def test_password_form_errors_are_shown_next_to_the_field(client: Client) -> None:
    c = await client("feng", role="viewer")  # viewers may change their own password
    resp = await c.post("/admin/password", {"old_password": PASSWORD, "password": "short", "password2": "short"})
    assert resp.status == 400 and 'data-error-for="password"' in resp.text and "密码长度" in resp.text
    resp = await c.post("/admin/password", {"old_password": "nope", "password": "Abcdefgh-123", "password2": "x"})
    assert resp.status == 400 and 'data-error-for="password2"' in resp.text


async def test_csrf_is_required_on_forms_and_json(client: Client, deps: Deps) -> None:
    c = await client("chen")
    before = await deps.db.editors.count_documents({})
    body = {"username": "newbie", "role": "editor", "org": "370100", "password": PASSWORD}
    for token in ("", "forged-token"):
        resp = await c.api("POST", "/api/admin/editors", body, csrf=token)
        assert resp.status == 403 and resp.json["code"] == "csrf_failed"
        page = await c.post("/admin/editors/new", {**body, "password2": PASSWORD}, csrf=token)
        assert page.status == 403 and "刷新页面" in page.text
    assert await deps.db.editors.count_documents({}) == before
    # the login form's own token (before any session) is checked too
    anon = await client()
    resp = await anon.request("POST", "/admin/login", data={"username": "chen", "password": PASSWORD})
    assert resp.status == 403
    ok = await c.api("POST", "/api/admin/editors", body)
    assert ok.status == 201


async def test_next_parameter_is_never_an_open_redirect(client: Client, make_editor: MakeEditor) -> None:
    await make_editor("han")
    c = await client()
    page = await c.get("/admin/login?next=https://evil.example/")
    assert 'name="next" value="/admin/"' in page.text
    redirect = await c.get("/admin/audit")
    assert redirect.status == 302 and redirect.location.startswith("/admin/login?next=%2Fadmin%2Faudit")
