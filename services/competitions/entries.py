"""Entrants: registration by an enterprise or team of the owner's subtree, its approval, stage reports.

Who may do what (editors, by org):
- register: an editor whose subtree holds the entrant org (the enterprise's own editor or a level above),
  while registration is open and before the deadline; one entry per entrant org (unique index);
- approve a registration: the entrant's own union level, i.e. an editor of a union above the entrant on
  its own path (its 上级工会 up to the owner); the entrant's own editors cannot approve themselves;
- stage reports: the entrant's editors while the competition runs; the owner's editors review them.
Each entry gets a blind code (unique per competition) that judges see instead of its name.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from core.clock import now
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.competitions import store
from services.competitions.access import entry_in_scope, loaded, new_id, owned, record, require_status
from services.competitions.model import MAX_TEXT
from services.editors.scope import Scope

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by judges
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def blind_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


async def register(deps: Any, scope: Scope, cid: str, org_code: Any, name: Any) -> dict[str, Any]:
    scope.require_write()
    comp = await loaded(deps.db, cid)
    entrant = await scope.owner(deps.db, org_code)
    if comp.org not in entrant.path[:-1]:
        raise NotFound("竞赛不存在或本单位不在主办工会的范围内", code="not_found")
    require_status(comp, "registration")
    if now() > comp.registration_deadline:
        raise Conflict("报名已截止，不能再报名", code="registration_closed")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 60:
        raise BadInput("请填写参赛单位或班组名称（不超过 60 字）", code="invalid_field")
    doc = {
        "competition": cid,
        "org": entrant.code,
        "org_path": list(entrant.path),
        "name": name.strip(),
        "status": "pending",
        "registered_by": scope.editor.username,
        "registered_at": now(),
    }
    for _ in range(5):
        doc.update(_id=new_id(), blind_code=blind_code())
        if await store.insert_entry(deps.db, doc):
            await record(deps.db, scope, "create", comp, f"{doc['name']} 报名", after=doc)
            return doc
        if await store.entry_exists_with_org(deps.db, cid, entrant.code):
            raise Conflict("该单位已报名本竞赛", code="already_registered")
    raise Conflict("报名繁忙，请重试", code="retry")


async def review_registration(deps: Any, scope: Scope, entry_id: str, approve: bool, note: Any = "") -> dict[str, Any]:
    scope.require_write()
    entry = await entry_in_scope(deps.db, scope, entry_id)
    if scope.editor.org == entry["org"]:
        raise Forbidden("报名需由上级工会审核，不能审核本单位的报名", code="not_own_level")
    comp = await loaded(deps.db, entry["competition"])
    require_status(comp, "registration", "in_progress")
    status = "approved" if approve else "rejected"
    changes = {"status": status, "reviewed_by": scope.editor.username, "reviewed_at": now(), "note": str(note)[:200]}
    moved = await store.move_entry(deps.db, entry_id, {"status": "pending"}, {"$set": changes})
    if moved is None:
        raise Conflict("该报名已审核过", code="already_reviewed")
    word = "通过" if approve else "退回"
    await record(deps.db, scope, "update", comp, f"{entry['name']} 报名审核{word}", before=entry, after=changes)
    return moved


def _figures(raw: Any, indicators: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise BadInput("指标数据格式不正确", code="invalid_field")
    unknown = set(raw) - set(indicators)
    if unknown:
        raise BadInput(f"本阶段没有指标「{sorted(unknown)[0]}」", code="invalid_field")
    out = {}
    for name in indicators:
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise BadInput(f"请填写指标「{name}」（不小于 0 的数字）", code="invalid_field")
        out[name] = float(value)
    return out


async def submit_report(
    deps: Any, scope: Scope, entry_id: str, stage_id: Any, text: Any, figures: Any, media_ids: Any
) -> dict[str, Any]:
    """A stage report: text, one figure per indicator of the stage, up to 9 WeChat media ids."""
    scope.require_write()
    entry = await entry_in_scope(deps.db, scope, entry_id)
    comp = await loaded(deps.db, entry["competition"])
    require_status(comp, "in_progress")
    if entry["status"] != "approved":
        raise Conflict("报名尚未通过审核，不能提交阶段报告", code="not_approved")
    stage = next((s for s in comp.stages if s.id == stage_id), None)
    if stage is None:
        raise BadInput("竞赛阶段不存在", code="invalid_field")
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_TEXT:
        raise BadInput(f"请填写阶段总结（不超过 {MAX_TEXT} 字）", code="invalid_field")
    media = media_ids if isinstance(media_ids, list) else None
    if media is None or len(media) > 9 or not all(isinstance(m, str) and MEDIA_ID.fullmatch(m) for m in media):
        raise BadInput("图片或视频素材编号不正确（最多 9 个）", code="invalid_field")
    doc = {
        "competition": comp.id,
        "entry": entry_id,
        "stage": stage.id,
        "text": text.strip(),
        "figures": _figures(figures, stage.indicators),
        "media_ids": media,
        "status": "submitted",
        "submitted_by": scope.editor.username,
        "submitted_at": now(),
    }
    saved = await store.upsert_report(deps.db, f"{entry_id}:{stage.id}", doc)
    if saved is None:
        raise Conflict("该阶段报告已审核通过，不能再修改", code="report_locked")
    await record(deps.db, scope, "update", comp, f"{entry['name']} 提交「{stage.name}」阶段报告", after=doc)
    return saved


async def review_report(deps: Any, scope: Scope, report_id: str, accept: bool, note: Any = "") -> dict[str, Any]:
    current = await store.report(deps.db, report_id)
    if current is None:
        raise NotFound("阶段报告不存在", code="not_found")
    _, comp = await owned(deps.db, scope, current["competition"])
    scope.require_write()
    changes: dict[str, Any] = {"status": "accepted" if accept else "returned", "reviewed_by": scope.editor.username}
    changes |= {"reviewed_at": now(), "note": str(note)[:200]}
    done = await store.review_report(deps.db, report_id, current.get("version", 0), changes)
    if done is None:
        raise Conflict("该报告已审核或已被重新提交，请刷新后重试", code="stale")
    word = "通过" if accept else "退回修改"
    await record(deps.db, scope, "update", comp, f"阶段报告 {report_id} 审核{word}", before=current, after=changes)
    return done
