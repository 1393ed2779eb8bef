"""Audited editing of the console's content kinds (activities, surveys, polls), in one place.

Each kind's module says how to store, change and publish its documents (its own admin service);
this module adds what every kind gets alike: write permission first, the owner org inside the
editor's subtree, creation once per form key (a double submit creates nothing twice), and one
audit entry per change with a Chinese summary ("新建活动“…”", "发布问卷“…”").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from core.errors import BadInput
from services.editors import audit
from services.editors import once as console_once
from services.editors.scope import Scope

Doc = dict[str, Any]
Action = Callable[[], Awaitable[Doc | None]]  # changes a document's status; returns it after (None: deleted)


@dataclass(frozen=True, slots=True)
class Kind:
    key: str  # "activity": the audit action's prefix and target type, the idempotency namespace
    label: str  # "活动": in summaries


async def create(
    deps: Deps, scope: Scope, kind: Kind, data: Doc, form_key: str, store: Callable[[Doc], Awaitable[Doc]]
) -> str:
    """Create a document once per `form_key` (`store` gets `data` with the checked owner org); returns its id."""
    scope.require_write()
    owner = await scope.owner(deps.db, data.pop("org", None))

    async def make() -> str:
        doc = await store({**data, "org": owner.code})
        await audit.record(
            deps.db, scope.editor, f"{kind.key}.create", kind.key, doc["_id"], doc["org_path"],
            summary=f"新建{kind.label}“{doc['title']}”", after=doc, ip=scope.ip,
        )  # fmt: skip
        return str(doc["_id"])

    doc_id, _ = await console_once.once(deps.redis, scope.editor.username, kind.key, form_key, make)
    return doc_id


async def update(
    deps: Deps,
    scope: Scope,
    kind: Kind,
    load: Callable[[], Awaitable[Doc]],
    changes: Doc,
    store: Callable[[Doc], Awaitable[Doc]],
) -> Doc:
    """Apply `changes` (a new owner org is checked against the editor's subtree); audited with before/after."""
    scope.require_write()
    before = await load()
    if "org" in changes:
        changes["org"] = (await scope.owner(deps.db, changes["org"])).code
    after = await store(changes)
    await audit.record(
        deps.db, scope.editor, f"{kind.key}.update", kind.key, str(before["_id"]), after["org_path"],
        summary=f"修改{kind.label}“{after['title']}”", before=before, after=after, ip=scope.ip,
    )  # fmt: skip
    return after


async def act(
    deps: Deps,
    scope: Scope,
    kind: Kind,
    load: Callable[[], Awaitable[Doc]],
    action: str,
    actions: Mapping[str, Action],
) -> Doc | None:
    """Publish, close, cancel, delete ...: `actions[action]()` returns the document after (None once deleted)."""
    scope.require_write()
    before = await load()
    apply = actions.get(action)
    if apply is None:
        raise BadInput("操作不正确", code="action")
    after = await apply()
    await audit.record(
        deps.db, scope.editor, f"{kind.key}.{action}", kind.key, str(before["_id"]), before["org_path"],
        summary=f"{audit.ACTIONS[action]}{kind.label}“{before['title']}”",
        before=before if action == "delete" else {"status": before["status"]},
        after={"status": after["status"]} if after else None, ip=scope.ip,
    )  # fmt: skip
    return after
