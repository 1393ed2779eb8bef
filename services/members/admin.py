"""Members in the console: the roster import (over services.members.roster.import_roster, adding the
scope, the audit log and a per-row report kept for an hour) and the roster itself: a paged list with
search, editing a member's name and phone, unbinding the WeChat account bound to a member.

Privacy: lists show phone numbers masked (138****8000); the full number appears only on one member's
page and only to editors who may change it. The audit log keeps masked phones too: it is read by
more people than the roster."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from core.errors import BadInput, NotFound
from services.editors import audit
from services.editors.scope import Scope
from services.members import binding, live, roster, sessions, store
from services.members import users_store as mini_users
from services.members.binding import MEMBER_NO, PHONE, mask_phone, normalize_member_no, normalize_name, normalize_phone
from services.orgs import store as orgs

REPORT_TTL = 3600
MAX_STORED_ERRORS = 20_000


async def run_import(deps: Deps, scope: Scope, data: bytes, filename: str, *, dry_run: bool) -> dict[str, Any]:
    scope.require_write()
    org = await scope.owner(deps.db)
    report = await roster.import_roster(deps, org.code, data, filename, dry_run=dry_run)
    moved_orgs = {v for c in report.changes for f, b, a in c.fields if f == "工会" for v in (b, a)}
    names = {code: o.name for code, o in (await orgs.get_many(deps.db, sorted(moved_orgs))).items()}
    out: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "org": org.code,
        "org_name": org.name,
        "filename": filename,
        "dry_run": report.dry_run,
        "total": report.total,
        "valid": report.valid,
        "inserted": report.inserted,
        "updated": report.updated,
        "error_count": len(report.errors),
        "errors": [{"row": e.row, "column": e.column, "message": e.message} for e in report.errors[:MAX_STORED_ERRORS]],
        "changes": [_change_row(c, names) for c in report.changes[:MAX_STORED_ERRORS]],
        "change_count": len(report.changes),
    }
    await live.save_import_report(deps.redis, scope.editor.username, out, REPORT_TTL)
    if not dry_run:
        summary = (
            f"导入会员名册 {filename}：新增 {report.inserted} 人，更新 {report.updated} 人，{len(report.errors)} 行有误"
        )
        counts = {k: out[k] for k in ("filename", "total", "valid", "inserted", "updated", "error_count")}
        await audit.record(
            deps.db,
            scope.editor,
            "roster.import",
            "roster",
            out["id"],
            org.path,
            summary=summary,
            after=counts,
            ip=scope.ip,
        )
    return out


async def report(deps: Deps, scope: Scope, report_id: str) -> dict[str, Any]:
    found = await live.import_report(deps.redis, scope.editor.username, report_id)
    if found is None:
        raise NotFound("导入报告已过期（保留 1 小时），请重新导入以查看", code="report_not_found")
    return found


def error_rows(rep: dict[str, Any]) -> list[list[Any]]:
    return [["行号", "列", "问题"], *([e["row"], e["column"], e["message"]] for e in rep["errors"])]


async def member_count(deps: Deps, scope: Scope) -> int:
    return await store.count_in(deps.db, scope.org)


def _shown(field: str, value: str, org_names: dict[str, str]) -> str:
    if field == "手机号":
        return mask_phone(value) if value else ""
    if field == "工会":
        return org_names.get(value, value)
    return value


def _change_row(c: roster.RowChange, org_names: dict[str, str]) -> dict[str, Any]:
    fields = [{"field": f, "before": _shown(f, b, org_names), "after": _shown(f, a, org_names)} for f, b, a in c.fields]
    return {"member_no": c.member_no, "kind": c.kind, "name": c.name, "fields": fields}


PAGE_SIZE = 50


@dataclass(frozen=True)
class MemberRow:
    member_no: str
    name: str
    phone: str  # masked unless the editor may see it in full
    org: str
    org_path: tuple[str, ...]
    bound: bool


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    next_cursor: str  # "" on the last page


def search_filter(q: str) -> dict[str, Any]:
    """One box for name, member number or phone: whatever the text can be, it is looked up as."""
    q = q.strip()[:40]
    if not q:
        return {}
    ors: list[dict[str, Any]] = []
    name = normalize_name(q)
    if name:
        ors.append({"name": {"$regex": re.escape(name)}})
    no = normalize_member_no(q)
    if MEMBER_NO.match(no):
        ors.append({"_id": {"$regex": "^" + re.escape(no)}})
    digits = normalize_phone(q)
    if PHONE.match(digits):
        ors.append({"phone": digits})
    return {"$or": ors} if ors else {}


def _row(m: store.Member, full_phone: bool) -> MemberRow:
    phone = m.phone if full_phone else (mask_phone(m.phone) if m.phone else "")
    return MemberRow(m.member_no, m.name, phone, m.org, m.org_path, bool(m.bound_openid))


async def list_members(deps: Deps, scope: Scope, q: str = "", cursor: str = "", limit: int = PAGE_SIZE) -> MemberPage:
    found = await store.page(deps.db, scope.org, search_filter(q), cursor, limit + 1)
    rows = [_row(m, full_phone=False) for m in found[:limit]]
    return MemberPage(rows, rows[-1].member_no if len(found) > limit else "")


async def _member(deps: Deps, scope: Scope, member_no: str) -> store.Member:
    member = await store.get(deps.db, normalize_member_no(member_no))
    if member is None:
        raise NotFound("会员不存在或不在您的管理范围内", code="not_found")
    scope.check(member.org_path, "会员")
    return member


async def member(deps: Deps, scope: Scope, member_no: str) -> MemberRow:
    return _row(await _member(deps, scope, member_no), full_phone=scope.editor.can_write)


def _audit_view(m: store.Member) -> dict[str, Any]:
    return {"name": m.name, "phone": mask_phone(m.phone) if m.phone else "", "org": m.org}


async def edit(deps: Deps, scope: Scope, member_no: str, name: str, phone: str) -> MemberRow:
    """Correct a member's name and phone (what workers bind with)."""
    scope.require_write()
    before = await _member(deps, scope, member_no)
    clean_name = normalize_name(name)
    if not clean_name:
        raise BadInput("姓名不能为空", code="invalid_name")
    if len(clean_name) > 40:
        raise BadInput("姓名过长（最多 40 个字）", code="invalid_name")
    clean_phone = normalize_phone(phone) if phone.strip() else ""
    if clean_phone and not PHONE.match(clean_phone):
        raise BadInput("手机号不正确，应为 11 位手机号", code="invalid_phone")
    await store.set_contact(deps.db, before.member_no, clean_name, clean_phone)
    after = await _member(deps, scope, member_no)
    if (before.name, before.phone) != (after.name, after.phone):
        await audit.record(
            deps.db,
            scope.editor,
            "member.update",
            "member",
            before.member_no,
            before.org_path,
            summary=f"修改会员 {before.member_no} 的姓名或手机号",
            before=_audit_view(before),
            after=_audit_view(after),
            ip=scope.ip,
        )
    return _row(after, full_phone=True)


async def unbind(deps: Deps, scope: Scope, member_no: str) -> bool:
    """Free the member from the WeChat account bound to it; its owner may bind again (e.g. a new phone)."""
    scope.require_write()
    found = await _member(deps, scope, member_no)
    openid = await mini_users.user_of_member(deps.db, found.member_no)
    if openid is None or not await binding.unbind(deps, openid):
        if found.bound_openid:  # a copy left behind by an interrupted unbind
            await store.mark_bound(deps.db, found.member_no, None)
        raise BadInput("该会员尚未绑定微信账号", code="not_bound")
    await audit.record(
        deps.db,
        scope.editor,
        "member.unbind",
        "member",
        found.member_no,
        found.org_path,
        summary=f"解除会员 {found.member_no}（{found.name}）与微信账号的绑定",
        before={"bound": True},
        after={"bound": False},
        ip=scope.ip,
    )
    return True


@dataclass(frozen=True)
class Moved:
    before: store.Member
    after: store.Member
    user: mini_users.MiniUser | None  # the bound mini-program user, now in the new org


async def move(deps: Deps, scope: Scope, member_no: str, to_org: str) -> Moved:
    """Move a member (and the mini-program user bound to it) to another org of the editor's subtree.
    Callers above members carry the change on to the follower (services.people.transfer)."""
    scope.require_write()
    before = await _member(deps, scope, member_no)
    target = await scope.owner(deps.db, to_org.strip())
    # Moving to where the member already is still re-applies the user's side: it repairs a
    # transfer interrupted between the two writes.
    await store.move(deps.db, before.member_no, target.code, list(target.path))
    user = await mini_users.move_member(deps.db, before.member_no, target.code, list(target.path))
    if user is not None:
        await sessions.refresh_profile(deps, user)
    after = await _member(deps, scope, member_no)
    return Moved(before, after, user)
