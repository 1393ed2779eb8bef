"""Parametric QR codes for the official account: `org:<code>` binds a scanning follower to an org, and
`checkin:<activity id>` checks them in (the bot engineer routes both scenes).

Org codes are permanent (WeChat allows 100,000 per account, so one per org is reused, never
re-created); check-in codes are temporary (at most 30 days: until a day after the activity's last
session). The image comes from `showqrcode?ticket=`; the console proxies it for download so
editors get a file named after the org or activity.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlparse

import aiohttp

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, Unavailable
from core.wechat.errors import WeChatError
from services.activities import admin as console_activities
from services.editors import audit
from services.editors.scope import Scope
from services.menus.rules import wechat_message
from services.qrcodes import store

MAX_TEMP = timedelta(days=30)
MIN_LEFT = timedelta(days=1)  # a reused check-in code must stay valid at least this long


def image_url(deps: Deps, ticket: str) -> str:
    base = deps.settings.wechat.api_base.rstrip("/")
    if urlparse(base).hostname == "api.weixin.qq.com":
        base = "https://mp.weixin.qq.com"  # the real platform serves images from another host
    return f"{base}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"


async def create(deps: Deps, scope: Scope, kind: str, target: str) -> tuple[dict[str, Any], bool]:
    """(the code, created now?): an existing valid code for the same scene is returned instead."""
    scope.require_write()
    if kind == "org":
        org = await scope.owner(deps.db, target or None)
        scene, title, org_path = f"org:{org.code}", f"{org.name}关注二维码", org.path
        expires_at = None
    elif kind == "checkin":
        activity = await console_activities.get(deps, scope, target)
        if activity["status"] != "published":
            raise BadInput("活动发布后才能生成签到二维码", code="not_published")
        scene, title = f"checkin:{activity['_id']}", f"{activity['title']}签到码"
        org_path = tuple(activity["org_path"])
        expires_at = min(localize(activity["last_ends_at"]) + timedelta(days=1), now() + MAX_TEMP)
        if expires_at <= now():
            raise BadInput("活动已经结束，不能再生成签到二维码", code="activity_over")
    else:
        raise BadInput("二维码类型应为 org（工会关注码）或 checkin（活动签到码）", code="kind")
    lock = f"console:qrlock:{scene}"
    for _ in range(100):  # two editors asking for the same code at once get one code
        existing = await store.reusable(deps.db, scene, now() + MIN_LEFT)
        if existing is not None:
            return existing, False
        if await deps.redis.set(lock, scope.editor.username, nx=True, ex=15):
            break
        await asyncio.sleep(0.1)
    else:
        raise Conflict("正在生成该二维码，请稍后刷新", code="qrcode_busy")
    try:
        return await _create(deps, scope, kind, target, scene, title, org_path, expires_at), True
    finally:
        await deps.redis.delete(lock)


async def _create(
    deps: Deps,
    scope: Scope,
    kind: str,
    target: str,
    scene: str,
    title: str,
    org_path: tuple[str, ...],
    expires_at: datetime | None,
) -> dict[str, Any]:
    permanent = expires_at is None
    seconds = None if expires_at is None else int((expires_at - now()).total_seconds())
    try:
        answer = await deps.oa.qrcode_create(scene, expire_seconds=seconds)
    except WeChatError as exc:
        raise BadInput(wechat_message(exc.errcode, exc.errmsg), code="wechat_refused") from None
    doc = {
        "_id": "qr" + secrets.token_hex(6),
        "kind": kind,
        "target": target or org_path[-1],
        "scene": scene,
        "title": title,
        "org": org_path[-1],
        "org_path": list(org_path),
        "permanent": permanent,
        "ticket": answer["ticket"],
        "url": answer.get("url", ""),
        "expires_at": expires_at,
        "created_by": scope.editor.username,
        "created_at": now(),
    }
    await store.insert(deps.db, doc)
    await audit.record(
        deps.db,
        scope.editor,
        "qrcode.create",
        "qrcode",
        doc["_id"],
        org_path,
        summary=f"生成二维码“{title}”（{scene}）",
        after=doc,
        ip=scope.ip,
    )
    return doc


async def get(deps: Deps, scope: Scope, qr_id: str) -> dict[str, Any]:
    return scope.check_doc(await store.get(deps.db, qr_id), "二维码")


async def list_for(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    return await store.list_in(deps.db, scope.org)


async def image(deps: Deps, scope: Scope, qr_id: str) -> tuple[dict[str, Any], bytes]:
    doc = await get(deps, scope, qr_id)
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(image_url(deps, doc["ticket"])) as r:
            body = await r.read()
            if r.status != 200 or not body.startswith(b"\x89PNG") and not body.startswith(b"\xff\xd8"):
                raise Unavailable("二维码已过期或微信暂时无法提供图片，请重新生成", code="qrcode_image")
            return doc, body
    except (aiohttp.ClientError, TimeoutError):
        raise Unavailable("无法连接微信服务器获取二维码图片，请稍后重试", code="qrcode_image") from None
