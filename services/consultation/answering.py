"""Staff use cases in the console: queues with timers, claim, answer, pause, resolve, refer, release held text.

Staff are console editors; a staff member works a desk whose org lies in their subtree (their
own org or one below it), or a desk a case was escalated to. Claiming is one guarded update
(only a queued case can be claimed), so two staff clicking at once get one winner. Only the
assignee answers. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.consultation import checks, delivery, desks, store
from services.consultation.asking import refresh_due
from services.consultation.calendar import BusinessCalendar
from services.consultation.model import CATEGORIES, OPEN_STATES, STATES, TRANSITIONS
from services.consultation.timers import calendar_of, sla_of, timer
from services.editors import audit
from services.editors.scope import Scope

ANSWER_MAX = 4000


def _may_work(scope: Scope, doc: dict[str, Any]) -> bool:
    if scope.covers(doc.get("desk_path")):
        return True
    escalated = doc.get("escalated_path")
    return bool(escalated) and scope.covers(escalated)


async def case_for_staff(deps: Deps, scope: Scope, case_id: str) -> dict[str, Any]:
    doc = await store.get_case(deps.db, case_id) if isinstance(case_id, str) and len(case_id) < 40 else None
    if doc is None or not _may_work(scope, doc):
        raise NotFound("咨询不存在或不在您的管理范围内", code="case_not_found")
    return doc


async def queue(
    deps: Deps, scope: Scope, desk: str = "", states: tuple[str, ...] = tuple(OPEN_STATES)
) -> list[dict[str, Any]]:
    """The open cases of every desk in the editor's subtree (or of one of them), escalations included, with timers."""
    desk_ids = [d["_id"] for d in await store.desks_in(deps.db, scope.root)]
    if desk:
        desk_ids = [d for d in desk_ids if d == desk]
    rows = []
    at = now()
    cals: dict[tuple[str, ...], BusinessCalendar] = {}  # one lookup per desk, not per case
    for doc in await store.queue(deps.db, desk_ids, states):
        key = tuple(doc.get("desk_path") or ())
        cal = cals.get(key) or cals.setdefault(key, await calendar_of(deps.db, doc))
        rows.append({**staff_summary(doc, scope), "timer": timer(sla_of(doc, cal, at), at)})
    rows.sort(key=lambda r: (r["timer"]["minutes_left"] is None, r["timer"]["minutes_left"] or 0))
    return rows


async def claim(deps: Deps, scope: Scope, case_id: str) -> dict[str, Any]:
    doc = await store.get_case(deps.db, case_id) if isinstance(case_id, str) and len(case_id) < 40 else None
    if doc is None:
        raise NotFound("咨询不存在", code="case_not_found")
    if not _may_work(scope, doc):
        raise Forbidden("您不属于该咨询台所在的工会，不能认领此咨询", code="not_desk_staff")
    scope.require_write()
    at = now()
    event = {"id": store.new_event_id(), "kind": "claimed", "at": at, "by": scope.editor.username}
    fields = {"state": "assigned", "assignee": scope.editor.username, "assignee_name": scope.editor.name}
    changed = await store.transition(deps.db, case_id, ["queued"], event, fields)
    if changed is None:
        who = doc.get("assignee_name") or doc.get("assignee") or "其他工作人员"
        raise Conflict(f"该咨询已由 {who} 认领", code="already_claimed")
    await audit.record(deps.db, scope.editor, "claim", "consult_case", case_id, doc["desk_path"],
                       summary=f"认领咨询 {case_id}", ip=scope.ip)  # fmt: skip
    return changed


def _assignee_only(scope: Scope, doc: dict[str, Any]) -> None:
    if doc.get("assignee") != scope.editor.username:
        raise Forbidden("请先认领该咨询；只有认领人可以答复和处理", code="not_assignee")


async def act(
    deps: Deps, scope: Scope, case_id: str, action: str, text: str = "", at: datetime | None = None
) -> dict[str, Any]:
    """reply / ask (answer and wait for the worker) / wait (pause without answering) / resolved / referred."""
    if action not in ("reply", "ask", "wait", "resolved", "referred"):
        raise BadInput("不支持的操作", code="invalid_action")
    text = text.strip() if isinstance(text, str) else ""
    if action in ("reply", "ask") and not text:
        raise BadInput("请填写答复内容", code="invalid_text")
    if len(text) > ANSWER_MAX:
        raise BadInput(f"答复不能超过 {ANSWER_MAX} 字", code="invalid_text")
    at = at or now()
    doc = await case_for_staff(deps, scope, case_id)
    scope.require_write()
    if action != "referred" or doc["state"] != "queued":
        _assignee_only(scope, doc)
    allowed, target = TRANSITIONS[action]
    if doc["state"] not in allowed:
        raise Conflict(f"咨询当前为“{STATES.get(doc['state'])}”，不能执行此操作", code="invalid_state")
    event: dict[str, Any] = {"id": store.new_event_id(), "kind": action, "at": at, "by": scope.editor.username}
    if text:  # a pause's text is an internal note (why we wait); everything else is said to the worker
        event["note" if action == "wait" else "text"] = text
    fields: dict[str, Any] = {"state": target}
    unset: tuple[str, ...] = ()
    if action in ("resolved", "referred"):
        fields["resolved_at"] = at
        unset = ("open_slot", "due_at")
    changed = await store.transition(deps.db, case_id, list(allowed), event, fields, unset=unset)
    if changed is None:
        raise Conflict("咨询状态刚刚发生变化，请刷新后重试", code="case_changed")
    summary = f"{STATES.get(target or '', action)}：咨询 {case_id}"
    await audit.record(deps.db, scope.editor, action, "consult_case", case_id, doc["desk_path"],
                       summary=summary, after={"text": text}, ip=scope.ip)  # fmt: skip
    sent = None
    if event.get("text"):  # stored first (journaled); now try to reach the worker
        sent = await delivery.deliver(deps, changed, event, at.timestamp())
    if action not in ("resolved", "referred"):
        changed = await refresh_due(deps, changed, at)
    return {"case": changed, "delivery": sent}


async def release(deps: Deps, scope: Scope, case_id: str) -> dict[str, Any]:
    """A person looked at text the content check held and lets staff work with it."""
    doc = await case_for_staff(deps, scope, case_id)
    scope.require_write()
    changed = await store.set_fields(deps.db, case_id, {"held": False, "reviewed_by": scope.editor.username})
    await audit.record(deps.db, scope.editor, "review", "consult_case", case_id, doc["desk_path"],
                       summary=f"人工审核通过咨询 {case_id} 的内容", ip=scope.ip)  # fmt: skip
    return changed or doc


def _hidden(doc: dict[str, Any], scope: Scope) -> bool:
    """Anonymous towards the enterprise union: staff of the worker's own org do not see who asks."""
    return bool(doc.get("anonymous")) and scope.root == doc.get("org")


def staff_summary(doc: dict[str, Any], scope: Scope) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "category": doc["category"],
        "category_name": CATEGORIES.get(doc["category"], doc["category"]),
        "state": doc["state"],
        "state_name": STATES.get(doc["state"], doc["state"]),
        "desk": doc["desk"],
        "escalated_desk": doc.get("escalated_desk") or "",
        "assignee": doc.get("assignee_name") or "",
        "held": bool(doc.get("held")),
        "who": "匿名职工" if doc.get("anonymous") else ("会员 " + doc["member_id"] if doc.get("member_id") else "职工"),
        "opened_at": localize(doc["opened_at"]),
        "excerpt": checks.mask_ids(str(doc["text"]))[:60],
    }


async def staff_view(deps: Deps, scope: Scope, case_id: str) -> dict[str, Any]:
    doc = await case_for_staff(deps, scope, case_id)
    cal = await calendar_of(deps.db, doc)
    at = now()
    state = sla_of(doc, cal, at)
    events = [
        {"kind": e["kind"], "at": localize(e["at"]), "by": e.get("by", ""),
         "text": checks.mask_ids(str(e.get("text") or e.get("note") or "")), "held": bool(e.get("held")),
         "delivery": delivery.CHANNELS.get((e.get("delivery") or {}).get("channel", ""), "")}
        for e in doc.get("events") or ()
    ]  # fmt: skip
    desk = await desks.get(deps.db, doc["desk"])
    return {
        **staff_summary(doc, scope),
        "text": checks.mask_ids(str(doc["text"])),
        "attachments": [] if _hidden(doc, scope) else list(doc.get("attachments") or ()),
        "events": events,
        "timer": timer(state, at),
        "desk_name": desk.name if desk else doc["desk"],
        "calendar_org": cal.org,
        "mine": doc.get("assignee") == scope.editor.username,
        "is_open": doc["state"] in OPEN_STATES,
    }
