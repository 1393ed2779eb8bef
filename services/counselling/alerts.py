"""Crisis alerts for the on-duty counsellors: recorded at once, shown on their console page.

One alert per person, source and 10 minutes (`_id` is deterministic, so WeChat's retries and a worker
writing several crisis messages in a row raise one alert whose `count` grows). It goes to the
counsellors on duty at the org nearest the worker (their own org first, then up to the province);
when nobody is on duty it is open to every counsellor above the worker. What the worker wrote and
how to reach them are sealed (privacy.py) and shown only to those counsellors.
"""

from __future__ import annotations

import logging
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import NotFound
from services.counselling import duty, store_desk
from services.counselling.common import keys
from services.editors import audit
from services.editors.accounts import Editor
from services.editors.scope import Scope

log = logging.getLogger(__name__)
BUCKET_SECONDS = 600
SOURCES = {"bot": "公众号消息", "intake": "预约登记", "case": "咨询留言"}


async def alert_on_duty(deps: Deps, *, source: str, text: str, org_path: tuple[str, ...], reach: str) -> str:
    """Record (or bump) the alert for this person; returns its id. `reach` is the openid that wrote."""
    at = now()
    k = keys(deps)
    alert_id = f"{source}:{k.pseudonym('reach', reach)[:20]}:{int(at.timestamp()) // BUCKET_SECONDS}"
    on_duty = await store_desk.on_duty(deps.db, org_path)
    depth = {code: i for i, code in enumerate(org_path)}
    nearest = max((depth.get(d["org"], -1) for d in on_duty), default=-1)
    to = sorted(d["_id"] for d in on_duty if depth.get(d["org"], -1) == nearest)
    path = list(org_path) or ["370000"]
    fields = {
        "at": at, "source": source, "org": path[-1], "org_path": path, "to": to,
        "text_sealed": k.seal(text[:500], alert_id), "reach_sealed": k.seal(reach, alert_id),
    }  # fmt: skip
    doc = await store_desk.bump_alert(deps.db, alert_id, fields, at)
    if doc is not None and doc.get("count") == 1 and to:  # a new alert: tell them on WeChat too
        deps.spawn(duty.notify(deps, alert_id, to, at), "counselling.alert_notice")
    log.warning("crisis alert %s (%s) for %s", alert_id, source, ",".join(to) or "any counsellor above " + path[-1])
    return alert_id


def _visible(editor: Editor) -> dict[str, Any]:
    return {"$or": [{"to": editor.username}, {"to": [], "org_path": editor.org}]}


async def for_counsellor(deps: Deps, editor: Editor, limit: int = 50) -> list[dict[str, Any]]:
    k = keys(deps)
    found = await store_desk.alerts_where(deps.db, _visible(editor), limit)
    rows = []
    for d in found:
        rows.append({
            "id": d["_id"], "at": d["at"], "last_at": d.get("last_at"), "count": d.get("count", 1),
            "source": SOURCES.get(d["source"], d["source"]), "org": d["org"],
            "text": k.open_text(d.get("text_sealed", ""), d["_id"]) or "", "acknowledged_by": d.get("acknowledged_by"),
        })  # fmt: skip
    return rows


async def acknowledge(deps: Deps, scope: Scope, alert_id: str) -> dict[str, Any]:
    """The counsellor took the alert on (audited; the entry carries no text and no person)."""
    editor = scope.editor
    found = await store_desk.alerts_where(deps.db, {"_id": alert_id, **_visible(editor)}, 1)
    if not found:
        raise NotFound("提醒不存在", code="alert_not_found")
    doc = found[0]
    done = await store_desk.ack_alert(deps.db, {"_id": alert_id}, editor.username, now())
    if done is not None:
        await audit.record(
            deps.db, editor, "update", "counselling", alert_id, scope.editor.org_path,
            summary="确认收到危机求助提醒", after={"acknowledged_by": editor.username}, ip=scope.ip,
        )  # fmt: skip
    return done or doc
