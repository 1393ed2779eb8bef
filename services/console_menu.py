"""The official account's menus: the province's default menu (`menu/create`) and one conditional menu per
city (`menu/addconditional`, matching a follower tag that the city's followers are given with
`tags/members/batchtagging`).

An editor saves a draft, then publishes it. Publishing a city's menu makes sure the city has its
tag ("济南市总工会关注者"), replaces the city's previous conditional menu, and starts tagging the
city's followers in the background (50 openids a call, resumable from the last openid done, one
holder at a time). Followers who bind to the city later are tagged soon after they bind
(services/menus/city_tags.py).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict
from core.wechat.errors import WeChatError
from services.editors import audit
from services.editors.scope import Scope
from services.menus import store
from services.menus.rules import clean, wechat_message
from services.orgs import store as orgs

log = logging.getLogger(__name__)
TAG_BATCH = 50  # WeChat's batchtagging takes at most 50 openids
WAIT_ERRCODES = frozenset({45009, 45011, -1, -2})  # quota, rate limit, system busy: try again later

SUGGESTED = [
    {
        "name": "参与活动",
        "sub_button": [
            {"name": "投票", "type": "click", "key": "MENU_VOTE"},
            {"name": "活动报名", "type": "click", "key": "MENU_SIGNUP"},
            {"name": "问卷调查", "type": "click", "key": "MENU_SURVEY"},
        ],
    },
    {
        "name": "职工服务",
        "sub_button": [
            {"name": "心理咨询", "type": "click", "key": "MENU_COUNSELLING"},
            {"name": "法律援助", "type": "click", "key": "MENU_LEGAL"},
            {"name": "附近服务中心", "type": "click", "key": "MENU_NEARBY"},
        ],
    },
    {
        "name": "我的",
        "sub_button": [
            {"name": "会员绑定", "type": "click", "key": "MENU_MEMBER"},
            {"name": "人工客服", "type": "click", "key": "MENU_SERVICE"},
        ],
    },
]


def menu_kind(org: orgs.Org) -> str:
    """ "default" for the province, "conditional" for a city; other levels use their city's menu."""
    return {"province": "default", "city": "conditional"}.get(org.level, "")


async def load(deps: Deps, scope: Scope) -> tuple[orgs.Org, dict[str, Any]]:
    org = await scope.owner(deps.db)
    return org, await store.get(deps.db, org.code) or {"_id": org.code, "draft": None, "published": None}


async def save_draft(deps: Deps, scope: Scope, raw: list[dict[str, Any]]) -> dict[str, Any]:
    scope.require_write()
    org, before = await load(deps, scope)
    if not menu_kind(org):
        raise BadInput("菜单只能由省总工会（默认菜单）或市总工会（本市个性化菜单）设置", code="menu_level")
    buttons = clean(raw, deps.settings.miniprogram.app_id, deps.settings.server.public_url)
    after = await store.set_fields(
        deps.db, org.code, list(org.path), {"draft": buttons, "draft_at": now(), "draft_by": scope.editor.username}
    )
    await audit.record(
        deps.db,
        scope.editor,
        "menu.update",
        "menu",
        org.code,
        org.path,
        summary=f"保存{org.name}菜单草稿",
        before={"draft": before.get("draft")},
        after={"draft": buttons},
        ip=scope.ip,
    )
    return after


async def publish(deps: Deps, scope: Scope) -> dict[str, Any]:
    """Send the saved draft to WeChat; a city's menu also gets its tag and a tagging run."""
    scope.require_write()
    org, doc = await load(deps, scope)
    buttons = doc.get("draft")
    if not buttons:
        raise BadInput("请先保存菜单草稿再发布", code="no_draft")
    kind = menu_kind(org)
    published: dict[str, Any] = {"buttons": buttons, "at": now(), "by": scope.editor.username}
    try:
        if kind == "default":
            await deps.oa.menu_create(buttons)
        elif kind == "conditional":
            tag = await ensure_tag(deps, org, doc)
            old = (doc.get("published") or {}).get("menuid")
            published["menuid"] = await deps.oa.menu_add_conditional(buttons, {"tag_id": str(tag["id"])})
            published["tag_id"] = tag["id"]
            if old:
                try:
                    await deps.oa.menu_del_conditional(str(old))
                except WeChatError as exc:  # already gone: nothing to remove
                    log.info("conditional menu %s of %s not deleted: %s", old, org.code, exc)
        else:
            raise BadInput("菜单只能由省总工会或市总工会发布", code="menu_level")
    except WeChatError as exc:
        raise BadInput(wechat_message(exc.errcode, exc.errmsg), code="wechat_refused") from None
    after = await store.set_fields(deps.db, org.code, list(org.path), {"published": published})
    what = "默认菜单" if kind == "default" else "个性化菜单"
    await audit.record(
        deps.db,
        scope.editor,
        "menu.publish",
        "menu",
        org.code,
        org.path,
        summary=f"发布{org.name}{what}",
        before={"published": doc.get("published")},
        after={"published": published},
        ip=scope.ip,
    )
    if kind == "conditional":
        await start_tagging(deps, org, restart=True)
    return after


async def ensure_tag(deps: Deps, org: orgs.Org, doc: dict[str, Any]) -> dict[str, Any]:
    """The city's follower tag: the one on record if WeChat still has it, else found by name or created."""
    name = f"{org.name}关注者"[:30]
    existing = {int(t["id"]): t["name"] for t in await deps.oa.tags()}
    tag = doc.get("tag") or {}
    if tag.get("id") in existing:
        return tag
    found = next((tid for tid, n in existing.items() if n == name), None)
    tag = {"id": found if found is not None else await deps.oa.tag_create(name), "name": name}
    await store.set_fields(deps.db, org.code, list(org.path), {"tag": tag})
    return tag


async def start_tagging(deps: Deps, org: orgs.Org, *, restart: bool = False) -> bool:
    """Claim the city's tagging job and run it in the background; False when someone else holds it."""
    owner = secrets.token_hex(6)
    claimed = await store.claim_tagging(deps.db, org.code, owner, restart=restart)
    if claimed is None:
        return False
    deps.spawn(run_tagging(deps, org.code, owner), f"menu-tagging-{org.code}")
    return True


async def run_tagging(deps: Deps, org: str, owner: str) -> None:
    doc = await store.get(deps.db, org) or {}
    tag_id = int((doc.get("tag") or {}).get("id", -1))
    after = (doc.get("tagging") or {}).get("after")
    try:
        while True:
            batch = await store.followers_after(deps.db, org, after, TAG_BATCH)
            if not batch:
                break
            ok, failed = await tag_batch(deps, batch, tag_id)
            await store.add_follower_tag(deps.db, ok, tag_id)
            after = batch[-1]
            if not await store.tagging_progress(deps.db, org, owner, after, len(ok), failed):
                return  # taken over by another holder
        await store.tagging_finished(deps.db, org, owner, "done")
    except Exception as exc:  # noqa: BLE001 - WeChat or MongoDB away: record it; "继续" resumes from `after`
        log.warning("tagging followers of %s stopped: %s", org, exc)
        await store.tagging_finished(deps.db, org, owner, "failed", str(exc)[:200])


async def tag_batch(deps: Deps, openids: list[str], tag_id: int, *, untag: bool = False) -> tuple[list[str], int]:
    """Tag (or untag) up to 50 followers; returns those done and how many could not be (left the account).
    Quota, rate and busy errors (WAIT_ERRCODES) are raised: the caller stops and tries again later."""
    call = deps.oa.untag_users if untag else deps.oa.tag_users
    try:
        await call(openids, tag_id)
        return openids, 0
    except WeChatError as exc:
        if exc.errcode in WAIT_ERRCODES:
            raise
    ok: list[str] = []
    for openid in openids:  # one bad openid (left the account) must not sink the other 49
        try:
            await call([openid], tag_id)
            ok.append(openid)
        except WeChatError as exc:
            if exc.errcode in WAIT_ERRCODES:
                raise
    return ok, len(openids) - len(ok)


async def resume_tagging(deps: Deps, scope: Scope, *, restart: bool = False) -> None:
    """Continue a stopped tagging run, or (restart) tag every follower of the city again: followers who
    bound to the city since the last run get the tag too (batchtagging is idempotent)."""
    scope.require_write()
    org, doc = await load(deps, scope)
    if menu_kind(org) != "conditional" or not doc.get("tag"):
        raise BadInput("只有已发布个性化菜单的市级工会需要为关注者打标签", code="no_tag")
    if not await start_tagging(deps, org, restart=restart):
        raise Conflict("正在为关注者打标签，请稍候", code="tagging_running")
    await audit.record(
        deps.db,
        scope.editor,
        "menu.update",
        "menu",
        org.code,
        org.path,
        summary=f"{'重新' if restart else '继续'}为{org.name}关注者打标签",
        ip=scope.ip,
    )
