"""Editors' accounts: roles over an org subtree, argon2 passwords, and the rules for managing them.

Roles: `admin` (everything in the subtree, including other editors' accounts), `editor` (content and
pushes), `viewer` (reads only), `vendor` (a shop's account bound to one vendor id: redemption and its own
statements only; created from the vendor's page, services.benefits.vendors). An admin manages accounts
inside their own subtree only, and never their own role or status (so nobody locks the last door from
inside). Disabling an account or resetting its password ends its sessions at once. Every change is
audited by the caller's service (services.editors.auth), with the password hash never in the log.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.clock import now
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.editors import store
from services.orgs import store as orgs

ROLES = {"admin": "管理员", "editor": "编辑", "viewer": "只读", "vendor": "商户核销员"}
VENDOR_ID_RE = re.compile(r"^v[0-9a-f]{10}$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 128
PUBLIC_FIELDS = ("name", "role", "org", "org_path", "disabled", "created_at", "created_by", "last_login_at")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# A hash to verify against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("no-such-account-placeholder")


@dataclass(frozen=True)
class Editor:
    username: str
    name: str
    role: str
    org: str
    org_path: tuple[str, ...]
    disabled: bool = False
    vendor_id: str = ""  # role vendor: the one shop this account redeems for

    @property
    def is_vendor(self) -> bool:
        return self.role == "vendor"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "editor")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)

    def covers(self, org_path: Any) -> bool:
        """True when an item owned by `org_path` lies in this editor's subtree."""
        return isinstance(org_path, list | tuple) and self.org in org_path


def from_doc(doc: dict[str, Any]) -> Editor:
    return Editor(
        username=doc["_id"],
        name=doc.get("name") or doc["_id"],
        role=doc.get("role", "viewer"),
        org=doc["org"],
        org_path=tuple(doc.get("org_path") or ()),
        disabled=bool(doc.get("disabled")),
        vendor_id=str(doc.get("vendor_id") or ""),
    )


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """An account as the audit log and the JSON API show it: never the password hash."""
    return {"username": doc["_id"], **{k: doc.get(k) for k in PUBLIC_FIELDS}}


# --- checks --------------------------------------------------------------------------------------
def normalize_username(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def check_username(value: Any) -> str:
    username = normalize_username(value)
    if not USERNAME_RE.match(username):
        raise BadInput("用户名应为 2-32 位小写字母、数字、下划线、点或连字符，以字母或数字开头", code="username")
    return username


def check_password(password: Any, username: str = "") -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadInput(f"密码长度应为 {MIN_PASSWORD} 到 {MAX_PASSWORD} 位", code="password")
    kinds = sum(bool(re.search(p, password)) for p in (r"[A-Za-z]", r"\d", r"[^A-Za-z\d]"))
    if kinds < 2:
        raise BadInput("密码至少要包含字母、数字、符号中的两类", code="password")
    if username and username in password.lower():
        raise BadInput("密码不能包含用户名", code="password")
    return password


def check_role(value: Any) -> str:
    if value not in ROLES:
        raise BadInput("角色应为 管理员、编辑 或 只读", code="role")
    return str(value)


def check_name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(name) <= 40:
        raise BadInput("请填写姓名（不超过 40 字）", code="name")
    return name


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)  # ~50 ms of CPU: off the event loop


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# --- accounts ------------------------------------------------------------------------------------
async def org_in_scope(db: Any, actor: Editor | None, code: Any) -> orgs.Org:
    org = await orgs.get(db, code) if isinstance(code, str) else None
    if org is None:
        raise BadInput(f"工会组织“{code}”不存在", code="org")
    if actor is not None and actor.org not in org.path:
        raise Forbidden("只能在本工会及下级工会范围内设置账号", code="org")
    return org


async def get_managed(db: Any, actor: Editor, username: str) -> dict[str, Any]:
    """An account the admin `actor` may manage: 404 when it does not exist or lies outside their subtree."""
    doc = await store.get(db, normalize_username(username))
    if doc is None or not actor.covers(doc.get("org_path")):
        raise NotFound("账号不存在或不在您的管理范围内", code="editor_not_found")
    return doc


async def create(db: Any, actor: Editor | None, data: dict[str, Any]) -> dict[str, Any]:
    """A new account. `actor` None is the command line (tools.create_admin), which may create anywhere."""
    username = check_username(data.get("username"))
    name = check_name(data.get("name") or username)
    role = check_role(data.get("role"))
    vendor_id = data.get("vendor_id") if role == "vendor" else None
    if role == "vendor" and not (isinstance(vendor_id, str) and VENDOR_ID_RE.match(vendor_id)):
        raise BadInput("商户核销账号请在「商户」页面为具体商户创建", code="role")
    org = await org_in_scope(db, actor, data.get("org"))
    password = check_password(data.get("password"), username)
    at = now()
    doc = {
        "_id": username,
        "name": name,
        "role": role,
        "org": org.code,
        "org_path": list(org.path),
        "password_hash": await hash_password(password),
        "disabled": False,
        "created_at": at,
        "created_by": actor.username if actor else "命令行",
        "updated_at": at,
        "password_changed_at": at,
    }
    if vendor_id:
        doc["vendor_id"] = vendor_id
    if not await store.insert(db, doc):
        raise Conflict(f"用户名“{username}”已被使用", code="username")
    return doc


async def update(db: Any, actor: Editor, username: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change name, role, org or disabled; returns (before, after)."""
    before = await get_managed(db, actor, username)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = check_name(data["name"])
    if "role" in data:
        changes["role"] = check_role(data["role"])
        if changes["role"] == "vendor" and not before.get("vendor_id"):
            raise BadInput("商户核销账号请在「商户」页面为具体商户创建", code="role")
    if "org" in data:
        org = await org_in_scope(db, actor, data["org"])
        changes |= {"org": org.code, "org_path": list(org.path)}
    if "disabled" in data:
        if not isinstance(data["disabled"], bool):
            raise BadInput("账号状态应为 启用 或 停用", code="disabled")
        changes["disabled"] = data["disabled"]
    if before["_id"] == actor.username and (
        changes.get("role", before["role"]) != before["role"]
        or changes.get("disabled", False)
        or changes.get("org", before["org"]) != before["org"]
    ):
        raise Forbidden("不能修改自己的角色、所属工会或停用自己的账号，请联系上级管理员", code="self")
    changes["updated_by"] = actor.username
    after = await store.update(db, before["_id"], changes, guard={"updated_at": before["updated_at"]})
    if after is None:
        raise Conflict("该账号刚被其他人修改，请刷新后重试", code="edit_conflict")
    return before, after


async def set_password(db: Any, username: str, password: str, by: str) -> dict[str, Any]:
    check_password(password, username)
    changes = {"password_hash": await hash_password(password), "password_changed_at": now(), "updated_by": by}
    after = await store.update(db, username, changes)
    if after is None:
        raise NotFound("账号不存在", code="editor_not_found")
    return after


async def list_managed(db: Any, actor: Editor, org: str | None = None) -> list[dict[str, Any]]:
    return await store.list_in(db, org or actor.org)
