"""Pushes in the console: over 5a's push API (services.pushes.compose, push_progress, push_tools), which enforces
the editor's subtree itself; this adds the compose form's parsing, the scope check, idempotent
creation, the audit log, and progress shaped for the live progress bar."""

from __future__ import annotations

import re
from typing import Any

from core.deps import Deps
from core.errors import BadInput
from services.editors import audit
from services.editors import once as console_once
from services.editors.scope import Scope
from services.pushes import audiences, store
from services.pushes import compose as pushes
from services.pushes import progress as push_progress
from services.pushes import rules as push_rules
from services.pushes import trial_and_uploads as push_tools

FINAL = ("done", "cancelled", "failed", "skipped", "missed")
ACTION_NAMES = {"submit": "提交发送", "pause": "暂停", "resume": "继续", "cancel": "取消"}
Fields = dict[str, list[str]]


def one(fields: Fields, key: str, default: str = "") -> str:
    values = fields.get(key) or []
    return values[-1].strip() if values else default


def _pairs(text: str) -> dict[str, str]:
    """Template data typed as lines `thing1=春季健步走` (or `thing1：...`)."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = _split(line)
        if not sep:
            raise BadInput(f"模板内容第 {n} 行应写成“字段=内容”，例如 thing1=春季健步走", code="invalid_push")
        out[key.strip()] = value.strip()
    return out


def _split(line: str) -> tuple[str, str, str]:
    match = re.match(r"^\s*([^=＝:：]+?)\s*([=＝:：])(.*)$", line)
    return (match.group(1), match.group(2), match.group(3)) if match else (line, "", "")


def content_from(fields: Fields, channel: str) -> dict[str, Any]:
    if channel in ("template", "subscribe"):
        if channel == "template":
            tid = one(fields, "template_id") or one(fields, "template_id_manual")
        else:
            tid = one(fields, "sub_template_id")
        prefix = f"tpl_{tid}_"
        data = {k[len(prefix) :]: one(fields, k) for k in fields if k.startswith(prefix) and one(fields, k)}
        if not data:
            data = _pairs(one(fields, "template_data" if channel == "template" else "sub_template_data"))
        out: dict[str, Any] = {"template_id": tid, "data": data}
        for key in ("url", "miniprogram_page"):
            value = one(fields, f"{channel}_{key}")
            if value:
                out[key] = value
        return out
    if channel == "custom":
        msgtype = one(fields, "custom_msgtype", "text")
        names = ("text", "title", "description", "url", "picurl", "miniprogram_page", "thumb_media_id")
        return {"msgtype": msgtype, **{k: one(fields, f"custom_{k}") for k in names if one(fields, f"custom_{k}")}}
    if channel == "mass":
        keys = ("title", "content", "thumb_media_id", "author", "digest", "content_source_url")
        return {"articles": [{k: one(fields, f"mass_{k}") for k in keys}]}
    raise BadInput("请选择推送方式", code="invalid_push")


def audience_from(fields: Fields, upload_id: str | None) -> dict[str, Any]:
    kind = one(fields, "audience", "all")
    if kind == "tags":
        raw = [t for v in fields.get("tags") or [] for t in re.split(r"[\s,，、]+", v) if t]
        if not all(t.isdigit() for t in raw):
            raise BadInput("标签编号必须是数字", code="invalid_push")
        return {"kind": "tags", "tags": [int(t) for t in raw]}
    if kind == "orgs":
        return {"kind": "orgs", "orgs": [o for o in fields.get("aud_orgs") or [] if o]}
    if kind == "members":
        flt: dict[str, Any] = {}
        if fields.get("member_orgs"):
            flt["orgs"] = [o for o in fields["member_orgs"] if o]
        nos = [n for n in re.split(r"[\s,，、]+", one(fields, "member_nos")) if n]
        if nos:
            flt["member_nos"] = nos
        return {"kind": "members", "filter": flt}
    if kind == "openids":
        return {"kind": "openids", "upload_id": upload_id or one(fields, "upload_id")}
    return {"kind": kind}


def from_form(fields: Fields, upload_id: str | None = None) -> dict[str, Any]:
    channel = one(fields, "channel")
    kind = one(fields, "schedule", "now")
    schedule: dict[str, Any] = {"kind": kind}
    if kind == "at":
        schedule["at"] = one(fields, "at")
    elif kind == "cron":
        schedule["cron"] = one(fields, "cron")
    return {
        "title": one(fields, "title"),
        "channel": channel,
        "content": content_from(fields, channel),
        "audience": audience_from(fields, upload_id),
        "schedule": schedule,
    }


def check_shape(data: Any) -> dict[str, Any]:
    """Types the push service assumes (a list where a name belongs would otherwise end as a 500)."""
    if not isinstance(data, dict):
        raise BadInput("请求内容必须是 JSON 对象", code="invalid_push")
    if "channel" in data and not isinstance(data["channel"], str):
        raise BadInput("推送方式不正确", code="invalid_push")
    for key, label in (("content", "推送内容"), ("audience", "推送对象"), ("schedule", "发送时间")):
        if key in data and not isinstance(data[key], dict):
            raise BadInput(f"{label}格式不正确", code="invalid_push")
    return data


async def _raw(deps: Deps, scope: Scope, push_id: str) -> dict[str, Any]:
    return scope.check_doc(await store.get(deps.db, push_id) if push_id else None, "推送")


async def get(deps: Deps, scope: Scope, push_id: str) -> dict[str, Any]:
    await _raw(deps, scope, push_id)
    return await pushes.get(deps, push_id, editor_org=scope.root)


async def create(
    deps: Deps, scope: Scope, data: dict[str, Any], *, form_key: str = "", submit: bool = False
) -> dict[str, Any]:
    scope.require_write()
    check_shape(data)
    owner = await scope.owner(deps.db, data.pop("org", None))

    async def make() -> str:
        view = await pushes.create(
            deps, {**data, "org": owner.code}, editor_org=scope.root, editor=scope.editor.username
        )
        await audit.record(
            deps.db,
            scope.editor,
            "push.create",
            "push",
            view["id"],
            owner.path,
            summary=f"新建推送“{view['title']}”（{view['channel_name']}）",
            after=view,
            ip=scope.ip,
        )
        return str(view["id"])

    push_id, created = await console_once.once(deps.redis, scope.editor.username, "push", form_key, make)
    if submit and created:
        return await act(deps, scope, push_id, "submit")
    return await get(deps, scope, push_id)


async def update(deps: Deps, scope: Scope, push_id: str, data: dict[str, Any]) -> dict[str, Any]:
    scope.require_write()
    doc = await _raw(deps, scope, push_id)
    check_shape(data)
    before = pushes.view(doc)
    after = await pushes.update(deps, push_id, data, editor_org=scope.root, editor=scope.editor.username)
    await audit.record(
        deps.db,
        scope.editor,
        "push.update",
        "push",
        push_id,
        doc["org_path"],
        summary=f"修改推送“{after['title']}”",
        before=before,
        after=after,
        ip=scope.ip,
    )
    return after


async def estimate(deps: Deps, scope: Scope, push_id: str) -> dict[str, Any]:
    """How many people the push would reach now, and the sentence the editor confirms."""
    doc = await _raw(deps, scope, push_id)
    count = await audiences.estimate(deps.db, deps.redis, doc["audience"], doc["org"])
    channel = push_rules.CHANNELS[doc["channel"]]
    text = f"将向 {count:,} 人发送{channel}" if count else "发送对象中目前没有可接收消息的人，不能发送"
    advice = push_rules.quota_advice(doc["channel"], count, deps.settings.pushes.template_daily_quota)
    return {"count": count, "channel_name": channel, "confirm_text": text, "quota_warning": advice}


async def act(deps: Deps, scope: Scope, push_id: str, action: str) -> dict[str, Any]:
    scope.require_write()
    doc = await _raw(deps, scope, push_id)
    calls = {"submit": pushes.submit, "pause": pushes.pause, "resume": pushes.resume, "cancel": pushes.cancel}
    if action not in calls:
        raise BadInput("操作不正确", code="action")
    after = await calls[action](deps, push_id, editor_org=scope.root, editor=scope.editor.username)
    verb = "schedule" if action == "submit" else action
    await audit.record(
        deps.db,
        scope.editor,
        f"push.{verb}",
        "push",
        push_id,
        doc["org_path"],
        summary=f"{ACTION_NAMES[action]}推送“{doc['title']}”",
        before={"status": doc["status"]},
        after={"status": after["status"]},
        ip=scope.ip,
    )
    return after


async def list_for(deps: Deps, scope: Scope, status: str | None = None) -> list[dict[str, Any]]:
    return await pushes.list_pushes(deps, editor_org=scope.org, status=status or None, limit=100)


async def progress(deps: Deps, scope: Scope, push_id: str, run_id: str | None = None) -> dict[str, Any]:
    """5a's progress plus what the bar shows: finished, total known, time left and a note in Chinese."""
    p = await push_progress.progress(deps, push_id, editor_org=scope.root, run_id=run_id)
    push_status = None
    if p.get("run_id") is None:
        push_status = p["status"]
    p["finished"] = p["status"] in FINAL or push_status in ("cancelled", "failed")
    p["total_known"] = not p.get("counting")
    p["eta_text"] = eta_text(p.get("eta_seconds"))
    note = ""
    if p["status"] == "quota_paused" and p.get("paused_until"):
        note = p["status_text"]
    elif p.get("reason"):
        note = str(p["reason"])
    p["note"] = note
    p["status_text"] = p.get("status_text") or pushes.STATUS_TEXT.get(p["status"], p["status"])
    return p


def eta_text(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s <= 0:
        return "0 秒"
    if s < 60:
        return f"约 {s} 秒"
    if s < 3600:
        return f"约 {s // 60} 分 {s % 60} 秒"
    return f"约 {s // 3600} 小时 {s % 3600 // 60} 分"


async def runs(deps: Deps, scope: Scope, push_id: str) -> list[dict[str, Any]]:
    await _raw(deps, scope, push_id)
    return await push_progress.list_runs(deps, push_id, editor_org=scope.root)


async def report(deps: Deps, scope: Scope, push_id: str, run_id: str | None) -> Any:
    await _raw(deps, scope, push_id)
    return push_progress.report_csv(deps, push_id, editor_org=scope.root, run_id=run_id)


async def preview(deps: Deps, scope: Scope, push_id: str, openid: str) -> dict[str, Any]:
    scope.require_write()
    doc = await _raw(deps, scope, push_id)
    result = await push_tools.preview(deps, push_id, openid, editor_org=scope.root, editor=scope.editor.username)
    await audit.record(
        deps.db,
        scope.editor,
        "push.preview",
        "push",
        push_id,
        doc["org_path"],
        summary=f"预览推送“{doc['title']}”给 {openid}",
        ip=scope.ip,
    )
    return result


async def upload(deps: Deps, scope: Scope, data: bytes) -> dict[str, Any]:
    scope.require_write()
    owner = await scope.owner(deps.db)
    return await push_tools.upload_openids(
        deps, data, editor_org=scope.root, editor=scope.editor.username, org=owner.code
    )


LABEL_RE = re.compile(r"^\s*(.*?)\s*[:：]?\s*\{\{\s*([A-Za-z][A-Za-z0-9_]*)\.DATA\s*\}\}", re.MULTILINE)


async def templates(deps: Deps) -> list[dict[str, Any]]:
    """The account's templates, each with `labels`: the Chinese words before each field in its content."""
    try:
        found = await push_tools.templates(deps)
    except Exception:  # noqa: BLE001 - the compose form still works with a typed template id
        return []
    for t in found:
        t["labels"] = {field: label for label, field in LABEL_RE.findall(t.get("content") or "")}
    return found
