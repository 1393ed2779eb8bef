"""Logging in and out of the console, the session behind each request, and account changes (audited).

Login: the attempt is counted in Redis before the argon2 check (per account and per IP), so guessing
is capped even under concurrency; the refusal is the same for an unknown user and a wrong password,
and a lock says until when, in Beijing time. A session is a random token in a signed HttpOnly cookie;
Redis holds its state, so logout, disabling an account or changing a password ends it at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Forbidden, TooMany, Unauthorized
from services.editors import accounts as editors
from services.editors import audit, store
from services.editors import sessions_live as sessions
from services.editors.accounts import Editor

log = logging.getLogger(__name__)
BAD_LOGIN = "用户名或密码不正确"


@dataclass(frozen=True)
class Session:
    token: str
    editor: Editor
    csrf: str
    org: str  # the working org chosen in the switcher (within the editor's subtree)


def limits(deps: Deps) -> sessions.Limits:
    return deps.extras.get("console.login_limits") or sessions.Limits()


def _until(seconds: float) -> str:
    at = now() + timedelta(seconds=max(seconds, 1))
    day = "" if at.date() == now().date() else at.strftime("%m月%d日 ")
    return f"{day}{at.strftime('%H:%M')}"


async def login(deps: Deps, username_raw: Any, password: Any, ip: str) -> tuple[Session, Editor]:
    username = editors.normalize_username(username_raw)[:64]
    if not username or not isinstance(password, str) or not password:
        raise BadInput("请输入用户名和密码", code="missing_credentials")
    lim = limits(deps)
    wait, used = await sessions.begin_attempt(deps.redis, username, ip, lim)
    if wait:
        raise TooMany(f"登录失败次数过多，已暂时锁定，请于 {_until(wait)}（北京时间）后再试", code="locked")
    doc = await store.get(deps.db, username)
    ok = await editors.verify_password(doc.get("password_hash") if doc else None, password[:256])
    if not ok or doc is None:
        locked = await sessions.attempt_failed(deps.redis, username, ip, lim)
        if doc is not None:
            editor = editors.from_doc(doc)
            await audit.record(
                deps.db,
                editor,
                "session.login_failed",
                "session",
                username,
                editor.org_path,
                summary="密码错误" + ("，账号已临时锁定" if locked else ""),
                ip=ip,
            )
        if locked:
            raise TooMany(
                f"{BAD_LOGIN}。连续失败次数过多，已锁定至 {_until(locked)}（北京时间），请届时再试", code="locked"
            )
        left = lim.per_user - used
        hint = f"（再错 {left} 次将临时锁定）" if 0 < left <= 2 else ""
        raise Unauthorized(BAD_LOGIN + hint, code="bad_credentials")
    editor = editors.from_doc(doc)
    if editor.disabled:
        await sessions.attempt_succeeded(deps.redis, username, ip)
        raise Forbidden("该账号已停用，请联系上级管理员", code="disabled")
    await sessions.attempt_succeeded(deps.redis, username, ip)
    if editors.needs_rehash(doc["password_hash"]):
        await store.update(deps.db, username, {"password_hash": await editors.hash_password(password)})
    token, csrf = await sessions.create(deps.redis, username, editor.org, ip)
    await store.record_login(deps.db, username, ip)
    await audit.record(deps.db, editor, "session.login", "session", username, editor.org_path, summary="登录", ip=ip)
    return Session(token, editor, csrf, editor.org), editor


async def current(deps: Deps, token: str | None) -> Session | None:
    """The session behind a cookie, with the account as it is *now* (role, org, disabled)."""
    if not token:
        return None
    fields = await sessions.load(deps.redis, token)
    if fields is None:
        return None
    doc = await store.get(deps.db, fields.get("u", ""))
    if doc is None or doc.get("disabled"):
        await sessions.delete(deps.redis, token)
        return None
    editor = editors.from_doc(doc)
    org = fields.get("org") or editor.org
    if org != editor.org:  # the account may have moved: the working org must still lie in the subtree
        found = await deps.db.orgs.find_one({"_id": org}, {"path": 1})
        if found is None or editor.org not in found["path"]:
            org = editor.org
    return Session(token, editor, fields.get("csrf", ""), org)


async def logout(deps: Deps, session: Session, ip: str) -> None:
    await sessions.delete(deps.redis, session.token)
    e = session.editor
    await audit.record(deps.db, e, "session.logout", "session", e.username, e.org_path, summary="退出", ip=ip)


async def switch_org(deps: Deps, session: Session, code: Any) -> str:
    found = await deps.db.orgs.find_one({"_id": code}, {"path": 1}) if isinstance(code, str) else None
    if found is None or session.editor.org not in found["path"]:
        raise Forbidden("只能切换到本工会及下级工会", code="org_out_of_scope")
    await sessions.set_field(deps.redis, session.token, "org", code)
    return str(code)


async def change_own_password(deps: Deps, session: Session, old: Any, new: Any, ip: str) -> None:
    e = session.editor
    doc = await store.get(deps.db, e.username)
    if doc is None or not isinstance(old, str) or not await editors.verify_password(doc["password_hash"], old):
        raise BadInput("当前密码不正确", code="old_password")
    if old == new:
        raise BadInput("新密码不能与当前密码相同", code="password")
    await editors.set_password(deps.db, e.username, new, e.username)
    await sessions.revoke_all(deps.redis, e.username, keep_token=session.token)
    await audit.record(
        deps.db, e, "editor.password", "editor", e.username, e.org_path, summary="修改了自己的密码", ip=ip
    )


# --- admins managing accounts --------------------------------------------------------------------
def require_admin(editor: Editor) -> None:
    if not editor.is_admin:
        raise Forbidden("只有管理员可以管理账号", code="admin_only")


async def create_account(deps: Deps, actor: Editor, data: dict[str, Any], ip: str) -> dict[str, Any]:
    require_admin(actor)
    doc = await editors.create(deps.db, actor, data)
    await audit.record(
        deps.db,
        actor,
        "editor.create",
        "editor",
        doc["_id"],
        doc["org_path"],
        summary=f"新建账号 {doc['_id']}（{editors.ROLES[doc['role']]}）",
        after=editors.public(doc),
        ip=ip,
    )
    return doc


async def update_account(deps: Deps, actor: Editor, username: str, data: dict[str, Any], ip: str) -> dict[str, Any]:
    require_admin(actor)
    before, after = await editors.update(deps.db, actor, username, data)
    if after.get("disabled") or after["org"] != before["org"] or after["role"] != before["role"]:
        await sessions.revoke_all(deps.redis, after["_id"])  # take effect now, not at the next login
    action = "update"
    if after.get("disabled") != before.get("disabled"):
        action = "disable" if after.get("disabled") else "enable"
    await audit.record(
        deps.db,
        actor,
        f"editor.{action}",
        "editor",
        after["_id"],
        after["org_path"],
        summary=f"{audit.ACTIONS[action]}账号 {after['_id']}",
        before=editors.public(before),
        after=editors.public(after),
        ip=ip,
    )
    return after


async def reset_password(deps: Deps, actor: Editor, username: str, password: Any, ip: str) -> None:
    require_admin(actor)
    doc = await editors.get_managed(deps.db, actor, username)
    await editors.set_password(deps.db, doc["_id"], password, actor.username)
    await sessions.revoke_all(deps.redis, doc["_id"])
    await sessions.unlock(deps.redis, doc["_id"])
    await audit.record(
        deps.db,
        actor,
        "editor.reset_password",
        "editor",
        doc["_id"],
        doc["org_path"],
        summary=f"重置了账号 {doc['_id']} 的密码",
        ip=ip,
    )


async def start(deps: Deps) -> None:
    """Start-up hook: say how to create the first console account when there is none yet."""
    if await store.count(deps.db) == 0:
        log.warning(
            "console: no editor accounts yet. Create the first admin with: python -m tools.create_admin "
            "--config config.yaml --username admin --org 370000 (then log in at %s/admin/login)",
            deps.settings.server.public_url.rstrip("/"),
        )
