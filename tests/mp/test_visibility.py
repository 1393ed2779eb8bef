"""Visibility rules: items flow down the org tree; unbound users see the province's only."""

from __future__ import annotations

import pytest

from core.deps import Deps
from core.errors import Forbidden, NotFound
from services.members.sessions import CurrentUser
from services.orgs import visibility as vis

JINAN_ENTERPRISE = ("370000", "370100", "370102", "370102001", "370102001001")
worker = CurrentUser("o1", member_id="M1", org="370102001001", org_path=JINAN_ENTERPRISE)
unbound = CurrentUser("o2")


async def test_filter_matches_own_org_and_ancestors_only(deps: Deps) -> None:
    items = [
        {"_id": "province", "org": "370000"},
        {"_id": "jinan", "org": "370100"},
        {"_id": "lixia", "org": "370102"},
        {"_id": "qingdao", "org": "370200"},
        {"_id": "other_enterprise", "org": "370202001001"},
        {"_id": "mine", "org": "370102001001"},
        {"_id": "province_members", "org": "370000", "members_only": True},
    ]
    await deps.db.vis_items.insert_many(items)

    async def ids(query: dict[str, object]) -> set[str]:
        return {d["_id"] async for d in deps.db.vis_items.find(query)}

    assert await ids(vis.visible_filter(worker)) == {"province", "jinan", "lixia", "mine", "province_members"}
    assert await ids(vis.visible_filter(unbound)) == {"province", "province_members"}
    assert await ids(vis.visible_filter(unbound, hide_members_only=True)) == {"province"}
    assert await ids(vis.visible_filter(None)) == {"province", "province_members"}


def test_checks_raise_404_outside_scope_and_403_for_members_only() -> None:
    vis.check_access(worker, "370100", members_only=True, what="投票")
    with pytest.raises(NotFound):
        vis.check_visible(worker, "370200", "投票")
    with pytest.raises(NotFound):
        vis.check_visible(unbound, "370100")
    vis.check_visible(unbound, "370000")
    with pytest.raises(Forbidden) as err:
        vis.check_access(unbound, "370000", members_only=True, what="投票")
    assert err.value.code == "members_only" and "绑定" in err.value.message


def test_editor_scope_is_the_subtree() -> None:
    assert vis.editor_filter("370100") == {"org_path": "370100"}
    assert vis.editor_can_manage("370100", JINAN_ENTERPRISE)
    assert not vis.editor_can_manage("370200", JINAN_ENTERPRISE)
