"""The one rule of the console: an editor sees and changes only what lies in their org's subtree.

Every console handler gets a `Scope` for the request (built by handlers.console.base) and every
console service takes it: `scope.check(item_org_path)` before showing or changing an item,
`scope.require_write()` before a change, `await scope.owner(db, code)` to place a new item. An item
outside the subtree answers 404 ("不存在或不在您的管理范围内"): it does not exist for this editor,
so nothing about it leaks, and other cities' ids cannot be probed.

`scope.org` is the working org picked in the switcher (the editor's own org or one below it): lists
show its subtree and new items belong to it. Permission always comes from `scope.editor.org`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import Forbidden, NotFound
from services.editors.accounts import Editor
from services.orgs import store as orgs


@dataclass(frozen=True)
class Scope:
    editor: Editor
    org: str  # working org, within the editor's subtree
    ip: str = ""

    @property
    def root(self) -> str:
        """The editor's own org: what other engineers' services call `editor_org`."""
        return self.editor.org

    def covers(self, org_path: Any) -> bool:
        return self.editor.covers(org_path)

    def check(self, org_path: Any, what: str = "内容") -> None:
        if not self.covers(org_path):
            raise NotFound(f"{what}不存在或不在您的管理范围内", code="not_found")

    def check_doc(self, doc: dict[str, Any] | None, what: str = "内容") -> dict[str, Any]:
        """The item itself when it exists and lies in scope; 404 otherwise (same answer for both)."""
        if doc is None:
            raise NotFound(f"{what}不存在或不在您的管理范围内", code="not_found")
        self.check(doc.get("org_path"), what)
        return doc

    def require_write(self) -> None:
        if not self.editor.can_write:
            raise Forbidden("只读账号不能修改内容，如需修改请联系管理员", code="read_only")

    def require_admin(self) -> None:
        if not self.editor.is_admin:
            raise Forbidden("只有管理员可以执行此操作", code="admin_only")

    async def owner(self, db: Any, code: Any = None) -> orgs.Org:
        """The org a new item will belong to: `code` (default: the working org), checked to be in scope."""
        code = code or self.org
        org = await orgs.get(db, code) if isinstance(code, str) else None
        if org is None or not self.covers(org.path):
            raise NotFound("工会组织不存在或不在您的管理范围内", code="org_not_found")
        return org


async def breadcrumbs(db: Any, scope: Scope) -> list[orgs.Org]:
    """The working org's path from the editor's own org down (the switcher's links upward)."""
    here = await orgs.get(db, scope.org)
    if here is None:
        return []
    start = here.path.index(scope.editor.org) if scope.editor.org in here.path else len(here.path) - 1
    found = {d["_id"]: d async for d in db.orgs.find({"_id": {"$in": list(here.path[start:])}})}
    return [
        orgs.Org(c, found[c]["name"], found[c]["level"], found[c].get("parent"), tuple(found[c]["path"]))
        for c in here.path[start:]
        if c in found
    ]


async def children(db: Any, scope: Scope) -> list[orgs.Org]:
    return await orgs.children(db, scope.org)


async def org_names(db: Any, codes: list[str]) -> dict[str, str]:
    return {d["_id"]: d["name"] async for d in db.orgs.find({"_id": {"$in": list(set(codes))}}, {"name": 1})}
