"""Getting a staff answer to the worker within WeChat's rules; the case page always has it in full.

The answer is stored on the case (journaled) before this runs, so whatever WeChat says the
worker can read it on the case page. Then, in order:
1. inside the 48-hour customer-service window opened by the worker's last message to the
   account, a customer-service text (at most 5 per window, counted in Redis before sending;
   45015 / 45047 from WeChat fall through to the next channel);
2. otherwise a template message on the official account opening the case page (idempotent by
   `client_msg_id` = the answer's id);
3. otherwise a subscribe message of the mini-program (needs the worker's one-time consent);
4. otherwise nothing is sent and the outcome says so: the answer waits on the case page.
Each answer's outcome is written on its event (`delivery`): the console shows it. An answer whose
sending was interrupted stays listed in the case's `undelivered` and `jobs.recover_deliveries`
sends it as a notice (never a second customer-service message).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from core.clock import now
from core.deps import Deps
from core.wechat import WeChatError, WeChatTransportError
from services.consultation import live, store
from services.consultation.asking import page_of
from services.consultation.model import CATEGORIES
from services.followers import following

log = logging.getLogger(__name__)

WINDOW_SECONDS = 48 * 3600
CS_TEXT_MAX = 600  # longer answers are cut in the message; the case page has them in full


async def window_start(deps: Deps, oa_openid: str) -> float | None:
    """When the worker last wrote to the account (Redis first; MongoDB once it was flushed there)."""
    return await following.last_interaction(deps.db, deps.redis, oa_openid)


def _link(deps: Deps, case_id: str, label: str) -> str:
    mp = deps.settings.miniprogram.app_id
    return (f'<a href="{deps.settings.server.public_url}" data-miniprogram-appid="{mp}" '
            f'data-miniprogram-path="{page_of(case_id)}">{label}</a>')  # fmt: skip


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


async def deliver(
    deps: Deps, doc: dict[str, Any], event: dict[str, Any], now_ts: float | None = None, *, allow_cs: bool = True
) -> dict[str, Any]:
    """`allow_cs=False` after an interruption: a customer-service message may already have gone out
    (it has no idempotency key), so only the idempotent or harmless notices are tried (at most once)."""
    now_ts = time.time() if now_ts is None else now_ts
    case_id, text = doc["_id"], str(event.get("text") or "")
    category = CATEGORIES.get(doc["category"], doc["category"])
    oa, mp = str(doc.get("oa_openid") or ""), str(doc.get("mp_openid") or "")
    tried: list[str] = []
    if oa:
        start = await window_start(deps, oa)
        if allow_cs and start is not None and now_ts - start < WINDOW_SECONDS:
            if await live.take_cs_send(deps.redis, oa, int(start)):
                body = f"【{category}咨询答复】{_short(text, CS_TEXT_MAX)}\n{_link(deps, case_id, '查看咨询详情')}"
                outcome = await _try(deps.oa.send_custom_text(oa, body), "cs", tried)
                if outcome:
                    return await _record(deps, case_id, event, outcome, tried)
            else:
                tried.append("cs:window_full")
        data = {"thing1": {"value": _short(f"{category}咨询", 20)}, "thing2": {"value": _short(text, 20)}}
        mini = {"appid": deps.settings.miniprogram.app_id, "pagepath": page_of(case_id)}
        send = deps.oa.send_template(oa, deps.settings.wechat.case_reply_template_id, data, miniprogram=mini,
                                     client_msg_id=f"case:{event['id']}")  # fmt: skip
        outcome = await _try(send, "template", tried)
        if outcome:
            return await _record(deps, case_id, event, outcome, tried)
    if mp:
        data = {"thing1": {"value": _short(f"{category}咨询", 20)}, "thing2": {"value": _short(text, 20)}}
        send = deps.mp.send_subscribe(
            mp, deps.settings.miniprogram.case_notice_template_id, data, page=page_of(case_id)
        )
        outcome = await _try(send, "subscribe", tried)
        if outcome:
            return await _record(deps, case_id, event, outcome, tried)
    return await _record(deps, case_id, event, "page", tried)


async def _try(call: Any, channel: str, tried: list[str]) -> str:
    try:
        await call
    except (WeChatError, WeChatTransportError) as exc:
        tried.append(f"{channel}:{getattr(exc, 'errcode', 'transport')}")
        return ""
    return channel


async def _record(deps: Deps, case_id: str, event: dict[str, Any], channel: str, tried: list[str]) -> dict[str, Any]:
    delivery = {"channel": channel, "tried": tried, "at": now()}
    await store.set_delivery(deps.db, case_id, event["id"], delivery)
    return delivery


CHANNELS = {"cs": "客服消息", "template": "模板消息", "subscribe": "订阅消息", "page": "仅咨询页面"}
