"""Workers' use cases: open a case, write again, reopen, read their cases (mini-program and bot).

Limits are decided where they cannot race: one open case per person and category is a unique
index (`open_slot`), five new cases a day a Lua counter (given back when the index refuses the
case), a retried request with the same Idempotency-Key finds the first case (unique `idem`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound, TooMany
from services.consultation import checks, desks, live, store
from services.consultation.model import (
    CATEGORIES,
    OPEN_STATES,
    REOPEN_DAYS,
    STATES,
    TRANSITIONS,
    after_worker,
    category_code,
)
from services.consultation.people import Requester
from services.consultation.timers import calendar_of, due_at, sla_of

TEXT_MIN, TEXT_MAX = 5, 2000
MAX_ATTACHMENTS = 9
MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
PAGE = "pages/cases/detail?id={id}"
STAFF_SAYS = frozenset({"reply", "ask", "resolved", "referred"})  # events whose text the worker reads
WORKER_SAYS = frozenset({"worker", "reopened"})


@dataclass(frozen=True)
class NewCase:
    category: str
    text: str
    anonymous: bool = False
    attachments: tuple[str, ...] = field(default_factory=tuple)


def parse_new(data: dict[str, Any]) -> NewCase:
    code = category_code(data.get("category"))
    if code is None:
        raise BadInput("请选择咨询类别：" + "、".join(CATEGORIES.values()), code="invalid_category")
    text = _text(data.get("text"))
    return NewCase(code, text, bool(data.get("anonymous")), parse_attachments(data.get("attachments")))


def _text(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not TEXT_MIN <= len(text) <= TEXT_MAX:
        raise BadInput(f"请用 {TEXT_MIN} 到 {TEXT_MAX} 个字描述您遇到的问题", code="invalid_text")
    return text


def parse_attachments(value: Any) -> tuple[str, ...]:
    items = value or []
    if not isinstance(items, list) or len(items) > MAX_ATTACHMENTS:
        raise BadInput(f"附件最多 {MAX_ATTACHMENTS} 个", code="invalid_attachments")
    if not all(isinstance(m, str) and MEDIA_ID.fullmatch(m) for m in items):
        raise BadInput("附件编号不正确，请重新上传", code="invalid_attachments")
    return tuple(items)


def page_of(case_id: str) -> str:
    return PAGE.format(id=case_id)


def _slot(person: str, category: str) -> str:
    return f"{person}:{category}"


async def _conflict(deps: Deps, person: str, category: str) -> Conflict:
    existing = await store.open_case_of(deps.db, _slot(person, category))
    number = f"（编号 {existing['_id']}）" if existing else ""
    return Conflict(
        f"您已有一个正在处理的“{CATEGORIES[category]}”咨询{number}，请在原咨询中补充说明，不必重复提交",
        code="case_open",
    )


async def open_case(
    deps: Deps, who: Requester, new: NewCase, *, channel: str, idem: str = "", at: datetime | None = None
) -> tuple[dict[str, Any], bool]:
    """(the case, replayed): a retried request with the same key answers the first case."""
    at = at or now()
    idem_key = f"{who.person}:{idem}" if idem else ""
    if idem_key and (found := await store.by_idem(deps.db, idem_key)) is not None:
        return found, True
    if await store.open_case_of(deps.db, _slot(who.person, new.category)) is not None:
        raise await _conflict(deps, who.person, new.category)
    verdict = await checks.check(deps.mp, who.mp_openid, new.text)
    checks.refuse_if_risky(verdict)
    path = list(who.org_path)
    if new.anonymous and len(path) > 1:
        path = path[:-1]  # anonymous: never the worker's own (enterprise) union's desk
    desk = await desks.route(deps.db, path, new.category)
    cal = await desks.calendar_for(deps.db, desk.org_path)
    day = at.strftime("%Y%m%d")
    if not await live.take_daily(deps.redis, who.person, day):
        raise TooMany(f"每天最多提交 {live.DAILY_LIMIT} 个咨询，请明天再提交，紧急情况请拨打职工服务热线 12351",
                      code="daily_limit")  # fmt: skip
    case_id = store.new_id(at)
    doc: dict[str, Any] = {
        "_id": case_id, "person": who.person, "persons": who.aliases, "mp_openid": who.mp_openid,
        "oa_openid": who.oa_openid, "member_id": who.member_id, "org": who.org_path[-1] if who.org_path else "",
        "org_path": list(who.org_path),
        "desk": desk.id, "desk_org": desk.org, "desk_path": list(desk.org_path), "category": new.category,
        "anonymous": new.anonymous, "text": new.text, "attachments": list(new.attachments),
        "check": verdict.as_doc(), "held": verdict.held, "state": "queued", "channel": channel,
        "open_slot": _slot(who.person, new.category), "opened_at": at, "updated_at": at,
        "events": [{"id": store.new_event_id(), "kind": "opened", "at": at, "by": "worker"}],
    }  # fmt: skip
    if idem_key:
        doc["idem"] = idem_key
    doc["due_at"] = due_at(sla_of(doc, cal, at))
    try:
        inserted = await store.insert_case(deps.db, doc)
    except Exception:  # MongoDB away: nothing was opened, so today's slot goes back
        await live.give_back_daily(deps.redis, who.person, day)
        raise
    if inserted is None:
        await live.give_back_daily(deps.redis, who.person, day)
        if idem_key and (found := await store.by_idem(deps.db, idem_key)) is not None:
            return found, True
        raise await _conflict(deps, who.person, new.category)
    return doc, False


async def own_case(deps: Deps, who: Requester, case_id: str) -> dict[str, Any]:
    doc = await store.get_case(deps.db, case_id) if isinstance(case_id, str) and len(case_id) < 40 else None
    if doc is None or not set(doc.get("persons") or [doc.get("person")]) & set(who.aliases):
        raise NotFound("咨询不存在", code="case_not_found")
    return doc


async def write_again(
    deps: Deps,
    who: Requester,
    case_id: str,
    text: str,
    attachments: tuple[str, ...] = (),
    at: datetime | None = None,
    idem: str = "",
) -> dict[str, Any]:
    """The worker adds to an open case: the case returns to the union and its clock runs again.

    A retry with the same Idempotency-Key adds nothing (the key is kept on the event and the
    update is guarded on its absence)."""
    at = at or now()
    text = _text(text)
    doc = await own_case(deps, who, case_id)
    if idem and any(e.get("idem") == idem for e in doc.get("events") or ()):
        return doc
    if doc["state"] not in TRANSITIONS["worker"][0]:
        raise Conflict("该咨询已结束，如问题仍未解决，可在 30 天内重新打开", code="case_finished")
    verdict = await checks.check(deps.mp, who.mp_openid, text)
    checks.refuse_if_risky(verdict)
    event = {"id": store.new_event_id(), "kind": "worker", "at": at, "by": "worker", "text": text,
             "attachments": list(attachments), "check": verdict.as_doc(), "held": verdict.held}  # fmt: skip
    guard = None
    if idem:
        event["idem"] = idem
        guard = {"events.idem": {"$ne": idem}}
    new_state = after_worker(doc["state"], bool(doc.get("assignee")))
    changed = await store.transition(deps.db, case_id, [doc["state"]], event, {"state": new_state}, extra_filter=guard)
    if changed is None:
        again = await own_case(deps, who, case_id)
        if idem and any(e.get("idem") == idem for e in again.get("events") or ()):
            return again  # a concurrent retry of the same message won
        raise Conflict("咨询状态刚刚发生变化，请刷新后重试", code="case_changed")
    return await refresh_due(deps, changed, at)


async def reopen(deps: Deps, who: Requester, case_id: str, text: str, at: datetime | None = None) -> dict[str, Any]:
    at = at or now()
    text = _text(text)
    doc = await own_case(deps, who, case_id)
    ended = doc.get("resolved_at")
    if doc["state"] not in TRANSITIONS["reopened"][0] or ended is None:
        raise Conflict("只有已解决或已关闭的咨询可以重新打开", code="case_not_reopenable")
    if at - localize(ended) > timedelta(days=REOPEN_DAYS):
        raise Conflict(f"该咨询已结束超过 {REOPEN_DAYS} 天，请提交新的咨询", code="reopen_expired")
    verdict = await checks.check(deps.mp, who.mp_openid, text)
    checks.refuse_if_risky(verdict)
    event = {"id": store.new_event_id(), "kind": "reopened", "at": at, "by": "worker", "text": text,
             "check": verdict.as_doc(), "held": verdict.held}  # fmt: skip
    fields = {"state": "queued", "open_slot": _slot(doc["person"], doc["category"])}
    try:
        changed = await store.transition(
            deps.db, case_id, list(TRANSITIONS["reopened"][0]), event, fields, unset=("assignee", "assignee_name")
        )
    except store.SlotTaken:  # another open case of this category exists
        raise await _conflict(deps, doc["person"], doc["category"]) from None
    if changed is None:
        raise Conflict("咨询状态刚刚发生变化，请刷新后重试", code="case_changed")
    return await refresh_due(deps, changed, at)


async def refresh_due(deps: Deps, doc: dict[str, Any], at: datetime) -> dict[str, Any]:
    cal = await calendar_of(deps.db, doc)
    due = due_at(sla_of(doc, cal, at))
    return await store.set_fields(deps.db, doc["_id"], {"due_at": due}) or doc


def worker_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The case page: everything the union answered, in full, and what the worker wrote."""
    messages = [
        {"from": "staff" if e["kind"] in STAFF_SAYS else "worker", "text": e["text"], "at": localize(e["at"]),
         "kind": e["kind"]}
        for e in doc.get("events") or () if e.get("text") and e["kind"] in STAFF_SAYS | WORKER_SAYS
    ]  # fmt: skip
    return {
        **summary(doc),
        "text": doc["text"],
        "attachments": list(doc.get("attachments") or ()),
        "anonymous": bool(doc.get("anonymous")),
        "messages": messages,
        "can_write": doc["state"] in OPEN_STATES,
        "can_reopen": doc["state"] in ("resolved", "closed")
        and doc.get("resolved_at") is not None
        and now() - localize(doc["resolved_at"]) <= timedelta(days=REOPEN_DAYS),
    }


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "category": doc["category"],
        "category_name": CATEGORIES.get(doc["category"], doc["category"]),
        "state": doc["state"],
        "state_name": STATES.get(doc["state"], doc["state"]),
        "opened_at": localize(doc["opened_at"]),
        "updated_at": localize(doc.get("updated_at") or doc["opened_at"]),
        "page": page_of(doc["_id"]),
    }


async def my_cases(
    deps: Deps, who: Requester, *, open_only: bool = False, before: datetime | None = None, limit: int = 20
) -> tuple[list[dict[str, Any]], str | None]:
    """The worker's cases, newest first (open ones only for the home page), and the next cursor."""
    states = sorted(OPEN_STATES) if open_only else []
    docs = await store.mine(deps.db, who.aliases, limit + 1, before, states)
    last = docs[limit - 1] if len(docs) > limit else None
    cursor = str(int(last["opened_at"].timestamp() * 1000)) if last else None
    return [summary(d) for d in docs[:limit]], cursor
