"""Binding a mini-program user to a verified union member, once, and the user's own profile ("me").

A user proves membership with name + phone or name + member number, matched against the roster editors
import. The refusal never says which half was wrong, so the endpoint cannot be used to probe the roster;
attempts are rate-limited by the handler as well.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from core.errors import BadInput, Conflict
from services.members import sessions
from services.members import store as members
from services.members import users_store as mini_users
from services.members.sessions import CurrentUser
from services.orgs import store as orgs

log = logging.getLogger(__name__)

PHONE = re.compile(r"^1[3-9]\d{9}$")
MEMBER_NO = re.compile(r"^[0-9A-Za-z-]{4,32}$")

NO_MATCH = "信息不匹配，请核对姓名和手机号（或会员编号）后重试；如信息有变动，请联系所在工会更新会员名册"


def normalize_name(name: str) -> str:
    """NFKC (full-width to half-width), no spaces; keeps the middle dot of minority names as one form."""
    name = unicodedata.normalize("NFKC", name)
    name = re.sub(r"\s+", "", name)
    return name.replace("•", "·").replace("．", "·").replace(".", "·")


def normalize_phone(phone: str) -> str:
    """'+86 138-0013-8000' -> '13800138000'; anything else is returned digits-only for the caller to check."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def normalize_birth_md(text: str) -> str | None:
    """'3-7', '03/07', '3月7日', '0307', '1985-03-07' (the year is dropped) -> '03-07'; None when no such day.

    February 29 is kept: in other years it counts as February 28 (services/birthdays).
    """
    t = unicodedata.normalize("NFKC", text).strip().split(" ")[0]
    m = re.fullmatch(r"(?:\d{4}[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?", t) or re.fullmatch(r"(\d{2})(\d{2})", t)
    if not m:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    days = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= month <= 12 and 1 <= day <= days[month - 1]):
        return None
    return f"{month:02d}-{day:02d}"


def normalize_member_no(no: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", no)).upper()


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "****"


def mask_name(name: str) -> str:
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_no(no: str) -> str:
    return no[:2] + "*" * max(0, len(no) - 6) + no[-4:] if len(no) > 6 else no[:1] + "***"


@dataclass(frozen=True)
class BindRequest:
    name: str
    phone: str = ""
    member_no: str = ""


def parse_bind_request(name: str, phone: str | None = None, member_no: str | None = None) -> BindRequest:
    """Check the shape before any roster lookup (a typo is not a guess and is not rate-limited)."""
    if (phone is None) == (member_no is None):
        raise BadInput("请填写手机号或会员编号（二选一）", code="invalid_input")
    clean = normalize_name(name)
    if not clean:
        raise BadInput("请填写姓名", code="invalid_name")
    if member_no is not None:
        no = normalize_member_no(member_no)
        if not MEMBER_NO.match(no):
            raise BadInput("会员编号格式不正确，应为 4-32 位字母或数字", code="invalid_member_no")
        return BindRequest(clean, member_no=no)
    digits = normalize_phone(phone or "")
    if not PHONE.match(digits):
        raise BadInput("手机号格式不正确，请输入 11 位手机号", code="invalid_phone")
    return BindRequest(clean, phone=digits)


async def _find(deps: Deps, req: BindRequest) -> members.Member:
    if req.member_no:
        found = await members.get(deps.db, req.member_no)
        candidates = [found] if found else []
    else:
        candidates = await members.by_phone(deps.db, req.phone)
    matches = [m for m in candidates if normalize_name(m.name) == req.name]
    if not matches:
        raise BadInput(NO_MATCH, code="member_not_found")
    if len(matches) > 1:
        raise BadInput("该姓名和手机号对应多条会员记录，请改用会员编号绑定", code="ambiguous_member")
    return matches[0]


async def bind(deps: Deps, user: CurrentUser, req: BindRequest) -> dict[str, Any]:
    if user.member_id:
        raise Conflict("您已绑定会员，如需更换请联系所在工会", code="already_bound")
    member = await _find(deps, req)
    try:
        bound = await mini_users.bind_member(deps.db, user.openid, member.member_no, member.org, list(member.org_path))
    except mini_users.AlreadyBound as exc:
        if exc.which == "user":
            raise Conflict("您已绑定会员，如需更换请联系所在工会", code="already_bound") from None
        raise Conflict("该会员已被其他微信账号绑定；如非本人操作，请联系所在工会处理", code="member_taken") from None
    await members.mark_bound(deps.db, member.member_no, user.openid)
    await sessions.refresh_profile(deps, bound)
    log.info("mini user bound to member %s (org %s)", mask_no(member.member_no), member.org)
    return await _profile(deps, bound, member)


async def unbind(deps: Deps, openid: str) -> bool:
    """For editors: free the member so that its owner can bind again (e.g. a changed WeChat account)."""
    before = await mini_users.get(deps.db, openid)
    if before is None or not before.member_id:
        return False
    after = await mini_users.unbind_member(deps.db, openid)
    await members.mark_bound(deps.db, before.member_id, None)
    if after is not None:
        await sessions.refresh_profile(deps, after)
    return True


async def me(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    stored = await mini_users.get(deps.db, user.openid) or mini_users.MiniUser(openid=user.openid)
    member = await members.get(deps.db, stored.member_id) if stored.member_id else None
    return await _profile(deps, stored, member)


async def _profile(deps: Deps, user: mini_users.MiniUser, member: members.Member | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bound": bool(user.member_id),
        "org_path": [],
        "official_account_linked": bool(user.follower_openid),
    }
    if member is not None:
        out["member"] = {
            "name": mask_name(member.name),
            "member_no": mask_no(member.member_no),
            "phone": mask_phone(member.phone),
        }
    path = list(user.org_path) or [orgs.PROVINCE_CODE]
    found = await orgs.get_many(deps.db, path)
    out["org_path"] = [{"code": c, "name": found[c].name, "level": found[c].level} for c in path if c in found]
    if user.org and user.org in found:
        out["org"] = {"code": user.org, "name": found[user.org].name, "level": found[user.org].level}
    return out


async def member_contacts(deps: Deps, member_nos: list[str]) -> dict[str, dict[str, Any]]:
    """Name and phone per member number (the editors' exports of their own activities)."""
    return await members.contacts(deps.db, member_nos)


async def mini_openid_of_follower(deps: Deps, follower_openid: str, unionid: str = "") -> str | None:
    """The mini-program openid of an official-account follower: same unionid, or linked at login."""
    return await mini_users.of_follower(deps.db, follower_openid, unionid)


async def link_follower(deps: Deps, unionid: str, follower_openid: str) -> mini_users.MiniUser | None:
    """The mini-program user sharing this unionid learns their follower openid (None: no such user)."""
    return await mini_users.link_follower(deps.db, unionid, follower_openid)


async def mini_user(deps: Deps, openid: str) -> mini_users.MiniUser | None:
    return await mini_users.get(deps.db, openid)
