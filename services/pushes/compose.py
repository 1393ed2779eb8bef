"""Pushes as editors see them: compose, schedule, pause, resume, cancel (the console calls these).

Every function takes the editor's org (`editor_org`): a push belongs to an org, and an editor sees
and changes only pushes of their own subtree (anything else is "not found"). Mutations return the
push as a JSON-ready dict (`view`). Sending itself happens elsewhere: "now" starts a run at once
(services/pushes/control.py); "at" and "cron" arm the push for the scheduler leader (scheduler/).

Push statuses: draft, scheduled (armed for a time or recurrence), running, paused, done,
cancelled, failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core import clock
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.orgs import store as orgs
from services.pushes import audiences, live, store
from services.pushes import control as push_control
from services.pushes import rules as push_rules
from services.pushes import runs_store as runs

STATUS_TEXT = {
    "draft": "草稿", "scheduled": "已排期", "running": "发送中", "paused": "已暂停", "done": "已完成",
    "cancelled": "已取消", "failed": "发送失败",
}  # fmt: skip
EDITABLE = ("draft", "scheduled")


def view(doc: dict[str, Any]) -> dict[str, Any]:
    schedule = dict(doc["schedule"])
    if schedule.get("at") is not None:
        schedule["at"] = clock.localize(schedule["at"]).isoformat()
    out = {
        "id": doc["_id"], "title": doc["title"], "org": doc["org"], "channel": doc["channel"],
        "channel_name": push_rules.CHANNELS[doc["channel"]], "content": doc["content"],
        "audience": doc["audience"], "schedule": schedule, "status": doc["status"],
        "status_text": STATUS_TEXT.get(doc["status"], doc["status"]), "version": doc["version"],
        "current_run": doc.get("current_run"), "runs": doc.get("runs", 0), "last_error": doc.get("last_error"),
        "created_by": doc["created_by"], "created_at": clock.localize(doc["created_at"]).isoformat(),
        "updated_by": doc.get("updated_by"), "updated_at": clock.localize(doc["updated_at"]).isoformat(),
    }  # fmt: skip
    if doc["schedule"]["kind"] == "cron" and doc["status"] == "scheduled":
        trigger = push_rules.cron_trigger(doc["schedule"]["cron"])
        out["next_fires"] = [t.isoformat() for t in push_rules.next_fires(trigger, clock.now(), 3)]
    return out


async def _owned(deps: Deps, push_id: str, editor_org: str) -> dict[str, Any]:
    doc = await store.get(deps.db, push_id) if isinstance(push_id, str) and push_id else None
    if doc is None or editor_org not in doc["org_path"]:
        raise NotFound("推送不存在或无权查看", code="push_not_found")
    return doc


async def _org_in_scope(deps: Deps, code: Any, editor_org: str, what: str) -> orgs.Org:
    org = await orgs.get(deps.db, str(code)) if isinstance(code, str) and code else None
    if org is None:
        raise BadInput(f"{what}不存在：{code}", code="invalid_push")
    if editor_org not in org.path:
        raise BadInput(f"{what}“{org.name}”不在您管理的范围内", code="invalid_push")
    return org


async def _clean(deps: Deps, data: Mapping[str, Any], editor_org: str, owner: orgs.Org) -> dict[str, Any]:
    """Validate a whole push; the audience's orgs and upload must lie in the owner's subtree."""
    channel = data.get("channel")
    if not isinstance(channel, str) or channel not in push_rules.CHANNELS:
        raise BadInput("请选择推送方式：" + "、".join(push_rules.CHANNELS.values()), code="invalid_push")
    if channel == "subscribe" and isinstance(data.get("content"), dict) and data["content"].get("miniprogram_page"):
        raise BadInput("订阅通知暂不支持跳转小程序页面，请改填跳转链接", code="invalid_push")
    message = push_rules.clean_content(channel, data.get("content"), deps.settings.miniprogram.app_id)
    audience = push_rules.clean_audience(data.get("audience"))
    for code in audience.get("orgs") or (audience.get("filter") or {}).get("orgs") or []:
        await _org_in_scope(deps, code, owner.code, "推送对象中的组织")
    if audience["kind"] == "openids":
        upload = await store.get_upload(deps.db, audience["upload_id"])
        if upload is None or owner.code not in upload["org_path"]:
            raise BadInput("上传的 openid 名单不存在或不属于本单位，请重新上传", code="invalid_push")
        if channel == "mass" and int(upload["count"]) < 2:
            raise BadInput("群发至少需要 2 位接收者", code="invalid_push")
    schedule = push_rules.clean_schedule(data.get("schedule") or {"kind": "now"}, clock.now())
    title = push_rules.text_field(data.get("title"), "推送标题", max_len=60)
    # `content` as the editor wrote it (the console edits it), `message` as WeChat takes it (we send it).
    content = dict(data["content"])
    return {"title": title, "channel": channel, "content": content, "message": message, "audience": audience,
            "schedule": schedule}  # fmt: skip


async def create(deps: Deps, data: Mapping[str, Any], *, editor_org: str, editor: str) -> dict[str, Any]:
    """A new draft push owned by `data["org"]` (default: the editor's org)."""
    if not isinstance(data, Mapping):
        raise BadInput("请求内容必须是 JSON 对象", code="invalid_push")
    owner = await _org_in_scope(deps, data.get("org") or editor_org, editor_org, "推送所属单位")
    fields = await _clean(deps, data, editor_org, owner)
    now = clock.now()
    doc = {
        "_id": "p" + secrets.token_hex(5), **fields, "org": owner.code, "org_path": list(owner.path),
        "status": "draft", "version": 1, "armed": False, "runs": 0, "created_by": editor, "created_at": now,
        "updated_by": editor, "updated_at": now,
    }  # fmt: skip
    await store.insert(deps.db, doc)
    return view(doc)


async def update(deps: Deps, push_id: str, data: Mapping[str, Any], *, editor_org: str, editor: str) -> dict[str, Any]:
    """Edit a draft or scheduled push; pass `version` to refuse overwriting someone else's edit."""
    doc = await _owned(deps, push_id, editor_org)
    if doc["status"] not in EDITABLE:
        raise Conflict(f"推送{STATUS_TEXT.get(doc['status'], '')}，不能再修改", code="push_not_editable")
    if not isinstance(data, Mapping):
        raise BadInput("请求内容必须是 JSON 对象", code="invalid_push")
    version = data.get("version", doc["version"])
    if isinstance(version, bool) or not isinstance(version, int):  # never an operator such as {"$gt": 0}
        raise BadInput("version 应为整数（推送的版本号）", code="invalid_push")
    owner = await _org_in_scope(deps, doc["org"], editor_org, "推送所属单位")
    merged = {k: data.get(k, doc[k]) for k in ("title", "channel", "content", "audience", "schedule")}
    fields = await _clean(deps, merged, editor_org, owner)
    fields["updated_by"] = editor
    if doc["status"] == "scheduled":
        fields["armed"] = fields["schedule"]["kind"] != "now"
        if not fields["armed"]:
            fields["status"] = "draft"  # "now" is not a schedule: submit it to send
    updated = await store.transition(deps.db, push_id, EDITABLE, fields, version=version, inc={"version": 1})
    if updated is None:
        raise Conflict("推送已被他人修改或状态已变化，请刷新后重试", code="push_changed")
    await _resync(deps)
    return view(updated)


async def get(deps: Deps, push_id: str, *, editor_org: str) -> dict[str, Any]:
    return view(await _owned(deps, push_id, editor_org))


async def list_pushes(
    deps: Deps, *, editor_org: str, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUS_TEXT:
        raise BadInput("状态筛选不正确", code="invalid_filter")
    try:
        limit, offset = max(1, min(int(limit), 200)), max(0, int(offset))
    except (TypeError, ValueError):
        raise BadInput("分页参数必须是整数", code="invalid_filter") from None
    return [view(d) for d in await store.list_visible(deps.db, editor_org, status=status, limit=limit, skip=offset)]


async def submit(deps: Deps, push_id: str, *, editor_org: str, editor: str) -> dict[str, Any]:
    """Send a draft: now (a run starts at once), or arm it for its time or recurrence."""
    doc = await _owned(deps, push_id, editor_org)
    if doc["status"] != "draft":
        raise Conflict(f"推送{STATUS_TEXT.get(doc['status'], '')}，不能重复提交", code="push_not_draft")
    owner = await _org_in_scope(deps, doc["org"], editor_org, "推送所属单位")
    await _clean(deps, doc, editor_org, owner)  # times move on and uploads vanish: check again
    kind = doc["schedule"]["kind"]
    # An immediate send to nobody is a mistake; a scheduled one may find its audience by then.
    if kind == "now" and await audiences.estimate(deps.db, deps.redis, doc["audience"], doc["org"]) == 0:
        raise BadInput("发送对象中目前没有可接收消息的人，请更换发送对象后再提交", code="empty_audience")
    if kind == "now":
        now = clock.now()  # the occurrence: a repair after a crash starts the very same run
        changes = {"status": "running", "start_at": now, "updated_by": editor}
        claimed = await store.transition(deps.db, push_id, ("draft",), changes)
        if claimed is None:
            raise Conflict("推送已被提交", code="push_not_draft")
        await push_control.start_run(deps, claimed, now)
    else:
        changes = {"status": "scheduled", "armed": True, "updated_by": editor}
        if await store.transition(deps.db, push_id, ("draft",), changes) is None:
            raise Conflict("推送已被提交", code="push_not_draft")
        await _resync(deps)
    return view(await _owned(deps, push_id, editor_org))


async def pause(deps: Deps, push_id: str, *, editor_org: str, editor: str) -> dict[str, Any]:
    doc = await _owned(deps, push_id, editor_org)
    if doc["status"] not in ("running", "scheduled"):
        raise Conflict(f"推送{STATUS_TEXT.get(doc['status'], '')}，不能暂停", code="push_not_pausable")
    changes = {"status": "paused", "armed": False, "paused_from": doc["status"], "updated_by": editor}
    if await store.transition(deps.db, push_id, ("running", "scheduled"), changes) is None:
        raise Conflict("推送状态已变化，请刷新后重试", code="push_changed")
    if doc.get("current_run"):
        await push_control.set_status(deps, doc["current_run"], ("running", "quota_paused"), "paused")
    await _resync(deps)
    return view(await _owned(deps, push_id, editor_org))


async def resume(deps: Deps, push_id: str, *, editor_org: str, editor: str) -> dict[str, Any]:
    doc = await _owned(deps, push_id, editor_org)
    if doc["status"] != "paused":
        raise Conflict("只有已暂停的推送可以继续", code="push_not_paused")
    run = await runs.get_run(deps.db, doc["current_run"]) if doc.get("current_run") else None
    run_paused = run is not None and run["status"] == "paused"
    kind = doc["schedule"]["kind"]
    changes: dict[str, Any] = {"updated_by": editor}
    if run_paused and kind != "cron":
        status, armed = "running", False
    elif kind == "at" and clock.localize(doc["schedule"]["at"]) <= clock.now() and not doc.get("current_run"):
        status, armed = "running", False  # its time passed while paused: send now
        changes["start_at"] = doc["schedule"]["at"]
    else:
        status, armed = ("scheduled", True) if kind != "now" else ("running", False)
    changes |= {"status": status, "armed": armed}
    updated = await store.transition(deps.db, push_id, ("paused",), changes)
    if updated is None:
        raise Conflict("推送状态已变化，请刷新后重试", code="push_changed")
    if run_paused:
        await push_control.set_status(deps, run["_id"], ("paused",), "running")  # type: ignore[index]
    elif status == "running" and not doc.get("current_run"):
        await push_control.start_run(deps, updated, clock.localize(doc["schedule"].get("at") or clock.now()))
    await _resync(deps)
    return view(await _owned(deps, push_id, editor_org))


async def cancel(deps: Deps, push_id: str, *, editor_org: str, editor: str) -> dict[str, Any]:
    doc = await _owned(deps, push_id, editor_org)
    live = ("draft", "scheduled", "running", "paused")
    if doc["status"] not in live:
        raise Conflict(f"推送{STATUS_TEXT.get(doc['status'], '')}，无需取消", code="push_not_cancellable")
    if (
        await store.transition(deps.db, push_id, live, {"status": "cancelled", "armed": False, "updated_by": editor})
        is None
    ):
        raise Conflict("推送状态已变化，请刷新后重试", code="push_changed")
    if doc.get("current_run"):
        await push_control.set_status(deps, doc["current_run"], push_control.ACTIVE, "cancelled", reason="编辑已取消")
    await _resync(deps)
    return view(await _owned(deps, push_id, editor_org))


async def _resync(deps: Deps) -> None:
    await live.bump_schedule_version(deps.redis)


async def schedule_version(deps: Deps) -> str | None:
    """Changes whenever an armed schedule changes (the scheduler leader re-syncs its jobs then)."""
    return await live.schedule_version(deps.redis)


def schedule_preview(schedule: Any, count: int = 5) -> list[str]:
    """The next times a schedule would fire (Beijing time, ISO 8601), to show before saving."""
    cleaned = push_rules.clean_schedule(schedule, clock.now())
    if cleaned["kind"] == "now":
        return [clock.now().isoformat()]
    if cleaned["kind"] == "at":
        return [cleaned["at"].isoformat()]
    trigger = push_rules.cron_trigger(cleaned["cron"])
    return [t.isoformat() for t in push_rules.next_fires(trigger, clock.now() + timedelta(seconds=1), count)]
