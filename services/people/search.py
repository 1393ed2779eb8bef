"""Finding a person for a push preview: editors type a name or member number, not an openid.
Only members of the editor's working subtree whose mini-program user is linked to a follower who
still follows the account are found (a preview can reach no one else)."""

from __future__ import annotations

from dataclasses import dataclass

from core.deps import Deps
from services.editors.scope import Scope, org_names
from services.followers import store as followers
from services.members import admin as members_admin
from services.members import users_store as mini_users

LIMIT = 10
SCAN = 50  # members looked at per search: most are not linked to a follower


@dataclass(frozen=True)
class PreviewTarget:
    openid: str  # the follower's openid: what a preview is sent to
    name: str
    member_no: str
    org: str
    org_name: str


async def preview_targets(deps: Deps, scope: Scope, q: str) -> list[PreviewTarget]:
    if len(q.strip()) < 1:
        return []
    page = await members_admin.list_members(deps, scope, q, limit=SCAN)
    users = await mini_users.by_members(deps.db, [r.member_no for r in page.rows if r.bound])
    linked = {no: u.follower_openid for no, u in users.items() if u.follower_openid}
    following = await followers.subscribed_among(deps.db, list(linked.values()))
    rows = [r for r in page.rows if linked.get(r.member_no) in following][:LIMIT]
    names = await org_names(deps.db, [r.org for r in rows])
    return [PreviewTarget(linked[r.member_no], r.name, r.member_no, r.org, names.get(r.org, r.org)) for r in rows]
