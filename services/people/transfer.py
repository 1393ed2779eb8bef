"""Transferring a member to another org of the editor's subtree, as one person: the roster entry,
the mini-program user bound to it (and their live sessions), and the follower linked to that user
(whose org drives city menus, city replies and pushes by org). Audited once, after all of it."""

from __future__ import annotations

from core.deps import Deps
from services.editors import audit
from services.editors.scope import Scope
from services.members import admin as members_admin
from services.members.admin import MemberRow
from services.orgs import store as orgs
from services.people.linking import sync_follower_org


async def transfer(deps: Deps, scope: Scope, member_no: str, to_org: str) -> MemberRow:
    moved = await members_admin.move(deps, scope, member_no, to_org)
    if moved.user is not None and moved.user.follower_openid:
        await sync_follower_org(deps, moved.user.follower_openid, moved.after.org)
    before, after = moved.before, moved.after
    if before.org != after.org:
        names = {c: o.name for c, o in (await orgs.get_many(deps.db, [before.org, after.org])).items()}
        await audit.record(
            deps.db,
            scope.editor,
            "member.transfer",
            "member",
            after.member_no,
            _common(before.org_path, after.org_path),
            summary=f"将会员 {after.member_no}（{after.name}）从{names.get(before.org, before.org)}转到"
            f"{names.get(after.org, after.org)}",
            before={"org": before.org, "org_path": list(before.org_path)},
            after={"org": after.org, "org_path": list(after.org_path), "bound": moved.user is not None},
            ip=scope.ip,
        )
    return await members_admin.member(deps, scope, member_no)


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> list[str]:
    """The path both orgs share: the entry shows to the editor who moved the member and everyone above."""
    out: list[str] = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return out
