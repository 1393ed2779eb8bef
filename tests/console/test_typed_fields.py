"""Every console JSON field is typed: an object or a list where a value belongs is a 400 with a Chinese message,
never a 500, and never reaches MongoDB as an operator."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from core.deps import Deps
from tests.console.conftest import CITY_A, PASSWORD, Client, MakeEditor, audit_count
from tests.console.test_content_is_data import base_bodies, make_items, paths
from tests.console.test_route_auth import console_rules, implemented

HOSTILE: list[Any] = [{"$gt": 0}, ["$where"]]


def leaves(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of every field, nested ones included (options[0].title, content.text ...)."""
    if at:
        yield at
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, (*at, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from leaves(inner, (*at, i))


def replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def operators(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value if str(k).startswith("$")] + [o for v in value.values() for o in operators(v)]
    if isinstance(value, list):
        return [o for v in value for o in operators(v)]
    return []


def area(pattern: str) -> str:
    return pattern.removeprefix("/api/admin/").split("/")[0]


async def test_objects_where_values_belong_are_400_never_500(
    deps: Deps, client: Client, make_editor: MakeEditor
) -> None:
    own = await make_items(deps, CITY_A, "济南")
    await make_editor("jinan_editor", org=CITY_A, role="editor")
    c = await client("typed_admin", org=CITY_A, role="admin", fresh=True)
    extra = {
        "pushes": [{"title": "改", "version": 1}],
        "editors": [{"password": PASSWORD}, {"disabled": True, "role": "editor", "name": "x"}],
        "polls": [{"options": [{"id": "o1", "title": "甲"}, {"id": "o2", "title": "乙"}], "multiple": True}],
    }
    ids = [*own.values(), "jinan_editor"]
    before = await snapshot(deps)
    for kind in ("replies", "polls", "surveys", "activities", "pushes"):  # the bodies are valid as they are
        resp = await c.api("POST", f"/api/admin/{kind}", base_bodies()[kind])
        assert resp.status in (200, 201), (kind, resp.text[:300])
    sent = 0
    for pattern, handler in console_rules(deps):
        if not pattern.startswith("/api/admin") or getattr(handler, "streams_body", False):
            continue
        kinds = [k for k in base_bodies() if k.split("-")[0] == area(pattern)]
        for method in ("POST", "PUT", "PATCH"):
            if not implemented(handler, method):
                continue
            for path in paths(pattern, ids):
                for body in [base_bodies()[k] for k in kinds] + extra.get(area(pattern), []):
                    for n, leaf in enumerate(leaves(body)):
                        value = HOSTILE[n % len(HOSTILE)]  # an object here, a list at the next field
                        resp = await c.api(method, path, replaced(body, leaf, value))
                        sent += 1
                        assert resp.status < 500, (method, path, leaf, value, resp.status, resp.text[:300])
                        if resp.status >= 400:
                            assert resp.json["code"] and resp.json["message"], (method, path, resp.text)
    assert sent > 200
    stored = []
    for name in await deps.db.list_collection_names():
        if name == "audit_log":
            continue
        async for doc in deps.db[name].find({}):
            stored += [(name, doc["_id"], op) for op in operators(doc)]
    assert not stored, stored[:5]
    # No change without its audit entry: every document created or changed names an entry.
    after = await snapshot(deps)
    changed = {key for key in after if before.get(key) != after[key]}
    audited = {d["target_id"] async for d in deps.db.audit_log.find({}, {"target_id": 1})}
    assert changed and not [key for key in changed if str(key[1]) not in audited], sorted(changed - set(audited))[:5]


AUDITED = ("bot_content", "polls", "surveys", "activities", "pushes", "editors", "menus", "qrcodes")


async def snapshot(deps: Deps) -> dict[tuple[str, Any], Any]:
    """The console's own documents, without the fields that change on their own (sessions, last login)."""
    out = {}
    for name in AUDITED:
        async for doc in deps.db[name].find({}, {"last_login_at": 0}):
            out[(name, doc["_id"])] = doc
    return out


async def test_a_push_version_must_be_a_number(deps: Deps, client: Client) -> None:
    """{"$gt": 0} once matched any version: the optimistic lock let a stale edit overwrite a newer one."""
    own = await make_items(deps, CITY_A, "济南")
    c = await client("version_admin", org=CITY_A, role="editor")
    path = f"/api/admin/pushes/{own['push']}"
    resp = await c.api("PATCH", path, {"title": "过时的修改", "version": {"$gt": 0}})
    assert resp.status == 400 and "version" in resp.json["message"]
    assert (await c.api("PATCH", path, {"title": "新", "version": 1})).status == 200
    stale = await c.api("PATCH", path, {"title": "过时的修改", "version": 1})
    assert stale.status == 409
    assert (await c.api("GET", path)).json["title"] == "新"


async def test_type_confusion_leaves_no_change_and_no_silent_change(deps: Deps, client: Client) -> None:
    """The known 500s: editor role, poll option ids, a reply rule with a non-string pattern (was stored live
    with no audit entry). Each is a 400 and nothing is written; a good change writes its audit entry."""
    own = await make_items(deps, CITY_A, "济南")
    c = await client("confused_admin", org=CITY_A, role="admin")
    before_rules = await deps.db.bot_content.count_documents({})
    before_audit = await audit_count(deps)
    cases = [
        ("POST", "/api/admin/editors", {"username": "tc1", "name": "x", "role": {"a": 1}, "org": CITY_A}),
        ("POST", "/api/admin/editors", {"username": "tc2", "name": "x", "role": ["admin"], "org": CITY_A}),
        ("PATCH", f"/api/admin/polls/{own['poll']}", {"options": [{"id": {"a": 1}, "title": "甲"}, {"title": "乙"}]}),
        ("POST", "/api/admin/polls", {"title": "t", "options": [{"id": ["x"], "title": "甲"}, {"title": "乙"}]}),
        ("POST", "/api/admin/replies", {"kind": "keyword", "match": "regex", "patterns": [{"a": 1}], "reply": {}}),
        ("POST", "/api/admin/replies", {"kind": "keyword", "patterns": ["x"], "reply": {"text": "x"}, "priority": {}}),
    ]
    for method, path, body in cases:
        if path.endswith("editors"):
            body = {**body, "password": PASSWORD}
        resp = await c.api(method, path, body)
        assert resp.status == 400 and resp.json["message"], (path, body, resp.status, resp.text)
    assert await deps.db.bot_content.count_documents({}) == before_rules
    assert await deps.db.editors.count_documents({"_id": {"$in": ["tc1", "tc2"]}}) == 0
    assert await audit_count(deps) == before_audit
    good = await c.api("POST", "/api/admin/replies", {"kind": "keyword", "patterns": ["好"], "reply": {"text": "好"}})
    assert good.status == 201
    assert await deps.db.audit_log.count_documents({"action": "reply.create", "target_id": good.json["_id"]}) == 1
