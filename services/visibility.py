"""Who sees what: content flows down the org tree; members-only content needs a bound member.

Every piece of mini-program content (polls, surveys, activities ...) stores its owner `org` (a code) and
`org_path` (the owner's path, province .. owner, copied from `orgs` when created), plus `members_only`.

- A user sees an item owned by org X when X is on the user's own org path (their org and its ancestors).
- An unbound user has no org yet: they see province-wide (370000) items only.
- `members_only` items are listed to everyone who can see them (so an unbound worker learns that binding
  opens them) but only a bound member may take part: `check_can_take_part`.
- An editor of org E manages the items owned within E's subtree: `{"org_path": E}`.

The filters are plain MongoDB query fragments, to be merged into a repository's query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from core.errors import Forbidden, NotFound

PROVINCE = "370000"


class Viewer(Protocol):
    """Anything with the session's view of the user (services.members.sessions.CurrentUser satisfies it)."""

    @property
    def org_path(self) -> tuple[str, ...]: ...

    @property
    def is_member(self) -> bool: ...


def scope(user: Viewer | None) -> list[str]:
    """Org codes whose items the user sees: their org path, or the province alone when unbound."""
    if user is not None and user.is_member and user.org_path:
        return list(user.org_path)
    return [PROVINCE]


def visible_filter(user: Viewer | None, *, hide_members_only: bool = False, field: str = "org") -> dict[str, Any]:
    """A query fragment matching items the user may see (optionally hiding members-only ones from non-members)."""
    query: dict[str, Any] = {field: {"$in": scope(user)}}
    if hide_members_only and not (user is not None and user.is_member):
        query["members_only"] = {"$ne": True}
    return query


def is_visible(user: Viewer | None, org: str) -> bool:
    return org in scope(user)


def check_visible(user: Viewer | None, org: str, what: str = "内容") -> None:
    """404, not 403: an item outside the user's scope does not exist for them."""
    if not is_visible(user, org):
        raise NotFound(f"{what}不存在或不在您所属工会的范围内", code="not_found")


def check_can_take_part(user: Viewer | None, members_only: bool, what: str = "活动") -> None:
    if members_only and not (user is not None and user.is_member):
        raise Forbidden(f"本{what}仅限工会会员参与，请先在“我的”页面绑定会员信息", code="members_only")


def check_access(user: Viewer | None, org: str, members_only: bool, what: str = "活动") -> None:
    """Both checks, in the order a person should hear them."""
    check_visible(user, org, what)
    check_can_take_part(user, members_only, what)


def editor_filter(editor_org: str, *, field: str = "org_path") -> dict[str, Any]:
    """Items an editor of `editor_org` manages: owned anywhere in that org's subtree."""
    return {field: editor_org}


def editor_can_manage(editor_org: str, item_org_path: Sequence[str]) -> bool:
    return editor_org in item_org_path
