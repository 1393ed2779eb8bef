"""On-duty counsellors' WeChat: bound with a one-time code, then crisis alerts reach their phone.

A counsellor gets a 6-digit code on their desk (valid 10 minutes) and sends “值班绑定 123456” to the
official account; the bot spends the code (one guarded update) and keeps that openid on the
counsellor's profile. A new alert then sends an official-account template message to every on-duty
counsellor it is addressed to (`client_msg_id` = alert + counsellor: a retry sends once). The message
names nobody and quotes nothing, it only says to open the desk. WeChat's 43004 (they unfollowed)
forgets the openid.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import Conflict
from core.wechat import WeChatError, WeChatTransportError
from services.counselling import store_desk
from services.counselling.common import require_counsellor
from services.editors import audit
from services.editors.scope import Scope

log = logging.getLogger(__name__)
BIND_TEXT = re.compile(r"^\s*值班绑定\s*(\d{6})\s*$")
CODE_TTL = timedelta(minutes=10)
UNFOLLOWED = 43004


async def new_bind_code(deps: Deps, scope: Scope) -> tuple[str, datetime]:
    username = require_counsellor(scope)
    expires = now() + CODE_TTL
    fields = {"name": scope.editor.name, "org": scope.editor.org, "org_path": list(scope.editor.org_path)}
    for _ in range(5):
        code = f"{secrets.randbelow(10**6):06d}"
        if await store_desk.set_bind_code(deps.db, username, code, expires, fields):
            await audit.record(
                deps.db, scope.editor, "update", "counselling", username, scope.editor.org_path,
                summary="获取微信提醒绑定码", ip=scope.ip,
            )  # fmt: skip
            return code, expires
    raise Conflict("绑定码生成失败，请重试", code="bind_code_busy")


async def bind(deps: Deps, code: str, openid: str) -> str:
    """The bot's answer to “值班绑定 <code>” from `openid`."""
    doc = await store_desk.take_bind_code(deps.db, code, openid, now())
    if doc is None:
        return "绑定码无效或已过期，请在心理咨询工作台重新获取。"
    return f"绑定成功：{doc.get('name', '')}老师，您值班时如有职工发出求助，本公众号会提醒您。"


async def notify(deps: Deps, alert_id: str, usernames: list[str], at: datetime) -> int:
    """Template messages to the on-duty counsellors of a new alert; returns how many WeChat took."""
    template = deps.settings.counselling.alert_template_id
    if not template:
        return 0
    sent = 0
    data: dict[str, Any] = {
        "thing1": {"value": "有职工发出求助，请尽快查看"},
        "time2": {"value": localize(at).strftime("%Y年%m月%d日 %H:%M")},
    }
    url = deps.settings.server.public_url.rstrip("/") + "/admin/counselling"
    for username in usernames:
        doc = await store_desk.get_counsellor(deps.db, username)
        openid = (doc or {}).get("notify_openid")
        if not openid:
            continue
        try:
            await deps.oa.send_template(openid, template, data, url=url, client_msg_id=f"{alert_id}:{username}"[:64])
            sent += 1
        except WeChatError as exc:
            if exc.errcode == UNFOLLOWED:
                await store_desk.forget_notify_openid(deps.db, username, openid)
            log.warning("crisis alert %s to counsellor %s not sent: %s", alert_id, username, exc)
        except (WeChatTransportError, TimeoutError) as exc:
            log.warning("crisis alert %s to counsellor %s not sent: %s", alert_id, username, exc)
    return sent
