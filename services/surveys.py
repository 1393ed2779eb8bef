"""Workers' side of surveys (问卷): list, read, keep a draft, submit, see their own responses.

The per-user limit is the unique index (survey_id, respondent, slot) in services.surveys.store: a submit takes
the next free slot below the limit, so concurrent submits can never exceed it. A submit carrying the same
`client_id` twice is answered with the first response (a retried request is not a second response).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.members.sessions import CurrentUser
from services.orgs import visibility
from services.surveys import store as repo
from services.surveys.definitions import CACHE
from services.surveys.questions import check_answers, parse_time
from storage.item_cache import cache_for

DRAFT_MAX_BYTES = 64 * 1024
STATE_TEXT = {"upcoming": "未开始", "open": "进行中", "closed": "已结束"}


def state_of(doc: dict[str, Any], at: datetime | None = None) -> str:
    at = at or now()
    if doc["status"] == "closed" or at >= doc["closes_at"]:
        return "closed"
    return "upcoming" if at < doc["opens_at"] else "open"


def respondent_key(deps: Deps, survey: dict[str, Any], openid: str) -> str:
    """The openid, or for an anonymous survey a keyed hash of it: enough to enforce the limit, not to identify."""
    if not survey.get("anonymous"):
        return openid
    secret = deps.settings.server.cookie_secret.encode()
    return "anon:" + hmac.new(secret, f"survey:{survey['_id']}:{openid}".encode(), hashlib.sha256).hexdigest()[:40]


async def _load(deps: Deps, survey_id: str) -> dict[str, Any] | None:
    return await repo.get(deps.db, survey_id)


async def visible_survey(deps: Deps, user: CurrentUser, survey_id: str) -> dict[str, Any]:
    doc = await cache_for(deps, CACHE).get(survey_id, lambda sid: _load(deps, sid))
    if doc is None or doc["status"] == "draft":
        raise NotFound("问卷不存在或已删除", code="survey_not_found")
    visibility.check_visible(user, doc["org"], "问卷")
    return doc


def _summary(doc: dict[str, Any], mine: int, at: datetime) -> dict[str, Any]:
    limit = doc["max_responses_per_user"]
    state = state_of(doc, at)
    return {
        "id": doc["_id"],
        "title": doc["title"],
        "description": doc.get("description", ""),
        "org": doc["org"],
        "opens_at": localize(doc["opens_at"]).isoformat(),
        "closes_at": localize(doc["closes_at"]).isoformat(),
        "state": state,
        "state_text": STATE_TEXT[state],
        "anonymous": bool(doc.get("anonymous")),
        "members_only": bool(doc.get("members_only")),
        "max_responses_per_user": limit,
        "my_response_count": mine,
        "can_respond": state == "open" and (limit == 0 or mine < limit),
    }


async def list_visible(deps: Deps, user: CurrentUser, *, before: str | None = None, limit: int = 20) -> dict[str, Any]:
    """Surveys of the user's org and its ancestors, newest first; `next` pages on by opening time."""
    cursor = parse_time(before, "翻页参数 before") if before is not None else None
    limit = max(1, min(limit, 50))
    docs = await repo.list_published(deps.db, visibility.visible_filter(user), limit=limit, before=cursor)
    mine = await repo.counts_for(deps.db, [(d["_id"], respondent_key(deps, d, user.openid)) for d in docs])
    at = now()
    items = [_summary(d, mine.get(d["_id"], 0), at) for d in docs]
    return {"items": items, "next": items[-1]["opens_at"] if len(docs) == limit else None}


async def detail(deps: Deps, user: CurrentUser, survey_id: str) -> dict[str, Any]:
    """The definition a client renders, plus this user's standing (responses so far, a saved draft)."""
    doc = await visible_survey(deps, user, survey_id)
    mine = await repo.count_responses(deps.db, survey_id, respondent_key(deps, doc, user.openid))
    out = _summary(doc, mine, now())
    out["questions"] = doc["questions"]
    out["has_draft"] = await repo.has_draft(deps.redis, survey_id, user.openid)
    return out


def _check_open(doc: dict[str, Any]) -> None:
    state = state_of(doc)
    if state == "upcoming":
        opens = localize(doc["opens_at"]).strftime("%m月%d日 %H:%M")
        raise Conflict(f"问卷尚未开始，将于 {opens} 开放填写", code="survey_not_open")
    if state == "closed":
        raise Conflict("问卷已结束，不能再填写", code="survey_closed")


async def get_draft(deps: Deps, user: CurrentUser, survey_id: str) -> dict[str, Any]:
    await visible_survey(deps, user, survey_id)
    draft = await repo.load_draft(deps.redis, survey_id, user.openid)
    return draft or {"answers": {}, "saved_at": None}


async def save_draft(deps: Deps, user: CurrentUser, survey_id: str, answers: Any) -> dict[str, Any]:
    """Keep the answers so far (checked per question, but blanks and minimums allowed) until submit."""
    doc = await visible_survey(deps, user, survey_id)
    visibility.check_can_take_part(user, bool(doc.get("members_only")), "问卷")
    _check_open(doc)
    clean = check_answers(doc["questions"], answers, partial=True)
    draft = {"answers": clean, "saved_at": now().isoformat()}
    if len(json.dumps(draft, ensure_ascii=False).encode()) > DRAFT_MAX_BYTES:
        raise BadInput("草稿内容过长，请精简文字后再保存", code="draft_too_large")
    ttl = int((doc["closes_at"] - now()).total_seconds()) + 24 * 3600
    await repo.save_draft(deps.redis, survey_id, user.openid, draft, min(ttl, repo.DRAFT_TTL_SECONDS))
    return draft


async def delete_draft(deps: Deps, user: CurrentUser, survey_id: str) -> None:
    await visible_survey(deps, user, survey_id)
    await repo.delete_draft(deps.redis, survey_id, user.openid)


def _response_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "submitted_at": localize(doc["submitted_at"]).isoformat(), "answers": doc["answers"]}


async def submit(
    deps: Deps, user: CurrentUser, survey_id: str, answers: Any, *, client_id: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Store one response; returns (response, created). Raises InvalidAnswers with per-question errors."""
    doc = await visible_survey(deps, user, survey_id)
    visibility.check_can_take_part(user, bool(doc.get("members_only")), "问卷")
    _check_open(doc)
    clean = check_answers(doc["questions"], answers)
    who = respondent_key(deps, doc, user.openid)
    limit = doc["max_responses_per_user"]
    rid = repo.new_response_id()
    if client_id:  # deterministic id: a replayed submit hits the same _id
        rid = hashlib.sha256(f"{survey_id}:{who}:{client_id}".encode()).hexdigest()[:24]
    response: dict[str, Any] = {"_id": rid, "survey_id": survey_id, "respondent": who, "answers": clean}
    response["submitted_at"] = now()
    if not doc.get("anonymous"):
        response |= {"member_id": user.member_id or None, "org": user.org or None, "org_path": list(user.org_path)}
    slot = 0 if limit == 1 else (await repo.count_responses(deps.db, survey_id, who) if limit else rid)
    while True:
        if limit and isinstance(slot, int) and slot >= limit:
            raise Conflict(f"您已提交过本问卷，每人最多提交 {limit} 次", code="already_submitted")
        clash = await repo.insert_response(deps.db, {**response, "slot": slot})
        if not clash:
            break
        if client_id:  # the clash may be this very submit, stored by an earlier try (either index can say so)
            existing = await repo.get_response(deps.db, rid)
            if existing is not None:
                return _response_out(existing), False
        if clash == "id":
            raise Conflict("提交冲突，请重试", code="submit_conflict")
        if not isinstance(slot, int):  # unlimited surveys use the id as the slot: cannot clash twice
            raise Conflict("提交冲突，请重试", code="submit_conflict")
        slot += 1
    await repo.delete_draft(deps.redis, survey_id, user.openid)
    return _response_out(response), True


async def my_responses(deps: Deps, user: CurrentUser, survey_id: str) -> dict[str, Any]:
    doc = await visible_survey(deps, user, survey_id)
    rows = await repo.responses_of(deps.db, survey_id, respondent_key(deps, doc, user.openid))
    limit = doc["max_responses_per_user"]
    return {
        "items": [_response_out(r) for r in rows],
        "remaining": None if limit == 0 else max(0, limit - len(rows)),
    }
