"""One message to one follower (or one mass batch), and what its answer means for the pipeline.

Idempotency keys: template sends carry `client_msg_id = "<run id>:<openid>"` (WeChat sends once per
openid + id within 10 minutes), mass batches carry `clientmsgid = "<run id>:m<chunk>"` (a repeat
answers 45065). Customer-service and subscribe messages have no key, so the pipeline never resends
them when in doubt: at most once, on purpose (see services/pushes/chunk.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from core.wechat.errors import TOKEN_ERRCODES, WeChatError, WeChatTransportError

SENT, FAILED, SKIPPED, UNKNOWN = "sent", "failed", "skipped", "unknown"
RETRY, THROTTLED, QUOTA, FATAL = "retry", "throttled", "quota", "fatal"

# Errors that will fail for every recipient: stop the run with one clear reason instead.
FATAL_TEXT = {
    40007: "素材或草稿无效（media_id 不存在）",
    40013: "公众号 AppID 无效",
    40037: "模板 ID 无效，请检查所选模板是否仍在公众号模板库中",
    40125: "公众号 AppSecret 无效",
    47001: "消息格式不正确（模板字段或内容不符合微信要求）",
    48001: "公众号没有该接口的权限",
    40130: "群发名单格式不正确",
}
# Per-recipient answers: (status, Chinese reason). 43004 also marks the follower as gone.
RECIPIENT_TEXT = {
    43004: (SKIPPED, "用户已取消关注"),
    40003: (FAILED, "openid 无效"),
    43101: (FAILED, "用户拒绝接受该订阅消息"),
    45015: (SKIPPED, "超出客服消息 48 小时互动时限"),
    45047: (FAILED, "客服消息条数超过上限"),
    -1: (FAILED, "微信系统繁忙，多次重试仍失败"),
}


TOKEN_WAIT = -2  # our errcode for "timed out waiting for another process to refresh the access_token"
TOKEN_TEXT = "access_token 失效，稍后重试"


@dataclass(slots=True)
class Outcome:
    status: str
    msgid: int | None = None
    errcode: int | None = None
    reason: str = ""

    @property
    def token_trouble(self) -> bool:
        """A dead or missing access_token: WeChat refused the call, nothing was sent. Never a
        per-recipient answer: the recipient stays pending and is tried again later."""
        return self.status == RETRY and (self.errcode in TOKEN_ERRCODES or self.errcode == TOKEN_WAIT)


def client_msg_id(run_id: str, openid: str) -> str:
    key = f"{run_id}:{openid}"
    if len(key.encode()) <= 64:
        return key
    return f"{run_id}:{hashlib.blake2b(openid.encode(), digest_size=12).hexdigest()}"


def classify(exc: WeChatError, *, idempotent: bool) -> Outcome:
    code = exc.errcode
    if isinstance(exc, WeChatTransportError):
        if idempotent or "message/" not in exc.api:  # the token call failed: nothing was sent
            return Outcome(RETRY, errcode=code, reason="无法连接微信服务器")
        return Outcome(UNKNOWN, errcode=code, reason="请求微信超时或中断，无法确认是否送达；为避免重复，不再重发")
    if code == 45009:
        return Outcome(QUOTA, errcode=code)
    if code == 45011:
        return Outcome(THROTTLED, errcode=code)
    if code == -1:
        return Outcome(RETRY, errcode=code, reason=RECIPIENT_TEXT[-1][1])
    if code in TOKEN_ERRCODES:  # the client refreshed and retried already; the token died again
        return Outcome(RETRY, errcode=code, reason=TOKEN_TEXT)
    if code in FATAL_TEXT:
        return Outcome(FATAL, errcode=code, reason=FATAL_TEXT[code])
    status, reason = RECIPIENT_TEXT.get(code, (FAILED, exc.text))
    return Outcome(status, errcode=code, reason=reason)


class Sender:
    """Sends a push's content on its channel. `idempotent`: a resend cannot deliver twice."""

    def __init__(self, deps: Deps, channel: str, content: dict[str, Any], run_id: str) -> None:
        self.oa = deps.oa
        self.channel = channel
        self.content = content
        self.run_id = run_id
        self.idempotent = channel in ("template", "mass")

    async def send(self, openid: str) -> Outcome:
        try:
            return Outcome(SENT, msgid=await self._send(openid))
        except WeChatError as exc:
            return classify(exc, idempotent=self.idempotent)
        except TimeoutError:  # waiting for another process to refresh the access_token: not sent
            return Outcome(RETRY, errcode=TOKEN_WAIT, reason="获取 access_token 超时")

    async def _send(self, openid: str) -> int | None:
        c = self.content
        if self.channel == "template":
            data = await self.oa.send_template(
                openid, c["template_id"], c["data"], url=c.get("url"), miniprogram=c.get("miniprogram"),
                client_msg_id=client_msg_id(self.run_id, openid),
            )  # fmt: skip
            return _msgid(data)
        if self.channel == "subscribe":
            return _msgid(await self.oa.send_subscribe(openid, c["template_id"], c["data"], page=c.get("url")))
        if self.channel == "custom":
            msgtype = c["msgtype"]
            return _msgid(await self.oa.send_custom(openid, msgtype, c[msgtype]))
        raise ValueError(self.channel)

    async def send_mass(self, openids: list[str], media_id: str, seq: int) -> Outcome:
        msg = {"mpnews": {"media_id": media_id}, "msgtype": "mpnews"}
        try:
            data = await self.oa.mass_send(openids, msg, clientmsgid=f"{self.run_id}:m{seq}")
        except WeChatError as exc:
            if exc.errcode == 45065:  # this batch was submitted before (we are resuming after a crash)
                return Outcome(SENT, reason="该批次此前已提交，微信按 clientmsgid 去重")
            return classify(exc, idempotent=True)
        return Outcome(SENT, msgid=_msgid(data))


async def preview(deps: Deps, channel: str, content: dict[str, Any], openid: str) -> int | None:
    """Send the content to one test follower now (raises WeChatError)."""
    if channel == "mass":
        media_id = await deps.oa.draft_add(content["articles"])
        return _msgid(await deps.oa.mass_preview(openid, {"mpnews": {"media_id": media_id}, "msgtype": "mpnews"}))
    if channel == "template":
        c = content
        data = await deps.oa.send_template(openid, c["template_id"], c["data"], url=c.get("url"),
                                           miniprogram=c.get("miniprogram"))  # fmt: skip
        return _msgid(data)
    return await Sender(deps, channel, content, "preview")._send(openid)


def _msgid(data: dict[str, Any]) -> int | None:
    value = data.get("msgid", data.get("msg_id"))
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None
