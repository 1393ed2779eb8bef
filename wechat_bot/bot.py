"""The conversation pipeline: message in, reply out, exactly once, always within WeChat's 5 seconds.

    read_message → claim (dedupe, Redis) → route (table) → guard (4 s) → render → encrypt

A retry gets the stored reply of the first delivery; a retry that arrives while the first is
still running waits for that reply (in this process: on a future; in another: by polling the
claim). An answer not ready after `guard_seconds` is replaced by "success" (stored, so retries
say the same) and sent as a customer-service message when it is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.wechat.errors import WeChatError
from wechat_bot import wire
from wechat_bot.callback import Query, Rejected, read_message
from wechat_bot.context import PROVINCE_PATH, Ctx
from wechat_bot.crypto import RANDOM, Envelope, sign
from wechat_bot.dedupe import Deduper
from wechat_bot.message import REPLY_TYPES, Message, Reply, Text, custom_message, reply_fields
from wechat_bot.router import Router

if TYPE_CHECKING:
    from core.deps import Deps
    from services.replies.cache import ContentCache

log = logging.getLogger(__name__)

# Kinds after which WeChat lets us send customer-service messages (the worker did something).
INTERACTIONS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "event:subscribe",
                          "event:scan", "event:click", "event:view", "event:view_miniprogram", "event:scancode_push",
                          "event:scancode_waitmsg", "event:pic_sysphoto", "event:pic_photo_or_album",
                          "event:pic_weixin", "event:location_select"})  # fmt: skip
SORRY = Text("抱歉，刚才没能处理好您的消息，请稍后再试；急事请拨打职工服务热线 12351。")
CS_WINDOW_SECONDS = 48 * 3600


@dataclass(frozen=True, slots=True)
class Response:
    body: bytes
    content_type: str


SUCCESS = Response(b"success", "text/plain; charset=utf-8")
CONTENT_TYPES = {"xml": "application/xml; charset=utf-8", "json": "application/json; charset=utf-8"}


class Bot:
    def __init__(
        self, deps: Deps, router: Router, content: ContentCache, deduper: Deduper, *, guard_seconds: float = 4.0
    ) -> None:
        self.deps = deps
        self.router = router
        self.content = content
        self.deduper = deduper
        self.guard_seconds = guard_seconds
        wc = deps.settings.wechat
        self.token = wc.token
        self.envelope = Envelope(wc.encoding_aes_key, wc.app_id) if wc.encoding_aes_key else None
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self._counters: dict[tuple[str, str], Any] = {}

    # --- the pipeline -----------------------------------------------------------------------------
    async def handle(self, q: Query, body: bytes, started: float) -> Response:
        """`started` is time.monotonic() when the request arrived: the guard counts from there."""
        msg = read_message(q, body, self.token, self.envelope)
        key = msg.dedupe_key
        claim = await self.deduper.claim(key, msg.openid, q.timestamp, q.nonce, msg.kind in INTERACTIONS)
        if claim.state == "replay":
            self._count(msg, "replayed")
            raise Rejected(403, "replayed", "重复的请求", f"nonce reused ({msg.log_id})")
        if claim.state in ("new", "unguarded"):
            plain = await self._process(msg, key, claim.org_path, started)
        elif claim.state == "replied":
            self._count(msg, "retry")
            plain = claim.reply
        else:
            self._count(msg, "retry")
            plain = await self._await_first(msg, key, started)
        return self._respond(plain, q, msg.fmt)

    async def _process(self, msg: Message, key: str, org_path: tuple[str, ...], started: float) -> str:
        if not self.router.knows(msg):
            log.info("unknown message kind %.40r (%.80s): answered success", msg.kind, msg.log_id)
            self._count(msg, "unknown")
            self.deduper.store(key, msg.openid, "")
            return ""
        ctx = Ctx(self.deps, self.content.snapshot, org_path or PROVINCE_PATH)
        try:
            result = self.router.resolve(msg, ctx)
        except Exception:
            log.exception("bot handler failed for %s", msg.log_id)
            result = SORRY
        if type(result) in REPLY_TYPES:
            plain = self._render(result, msg)  # type: ignore[arg-type]  # narrowed by the type check
            self.deduper.store(key, msg.openid, plain)
            self._count(msg, "replied" if plain else "acked")
            return plain
        return await self._guarded(msg, key, result, started)  # type: ignore[arg-type]

    async def _guarded(self, msg: Message, key: str, work: Awaitable[Reply], started: float) -> str:
        loop = asyncio.get_running_loop()
        shared: asyncio.Future[str] = loop.create_future()
        self._inflight[key] = shared
        task = asyncio.ensure_future(work)
        try:
            remaining = self.guard_seconds - (time.monotonic() - started)
            done, _ = await asyncio.wait({task}, timeout=max(remaining, 0.0))
            if done:
                plain = self._render(self._result(task, msg, key), msg)
                self._count(msg, "replied" if plain else "acked")
            else:
                plain = ""  # WeChat gets "success" now; the answer follows as a customer-service message
                self._count(msg, "late")
                log.warning("%s not ready after %.1fs: answering later", msg.log_id, self.guard_seconds)
                task.add_done_callback(lambda t: self.deps.spawn(self._deliver_late(msg, key, t), "bot-late-reply"))
            self.deduper.store(key, msg.openid, plain)
            shared.set_result(plain)
            return plain
        finally:
            if not shared.done():
                shared.set_result("")
            self._inflight.pop(key, None)

    def _result(self, task: asyncio.Future[Reply], msg: Message, key: str) -> Reply:
        exc = task.exception()
        if exc is not None:
            log.error("bot handler failed for %s", msg.log_id, exc_info=exc)
            self._count(msg, "error")
            return SORRY
        return task.result()

    async def _await_first(self, msg: Message, key: str, started: float) -> str:
        """Another delivery of this message is being processed: answer what it answers."""
        deadline = started + self.guard_seconds
        local = self._inflight.get(key)
        if local is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(local), max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                return ""
        claim = await self.deduper.wait(key, msg.openid, deadline)
        if claim.state in ("new", "unguarded"):  # the first one's process died: ours now
            return await self._process(msg, key, claim.org_path, started)
        return claim.reply  # "" when still pending at our deadline: the first answers late

    async def _deliver_late(self, msg: Message, key: str, task: asyncio.Future[Reply]) -> None:
        reply = self._result(task, msg, key)
        payload = custom_message(reply)
        if payload is None:
            return
        if time.time() - msg.create_time > CS_WINDOW_SECONDS - 60:
            log.warning("late reply for %s dropped: outside the 48-hour window", msg.log_id)
            return
        # At most once across processes: customer-service sends have no idempotency key.
        if not await self.deps.redis.set(f"msg:late:{key}", "1", nx=True, ex=86400):
            return
        msgtype, body = payload
        try:
            await self.deps.oa.send_custom(msg.openid, msgtype, body)
            self._count(msg, "late_sent")
        except WeChatError as exc:
            log.warning("late reply for %s not delivered: %s", msg.log_id, exc)
            self._count(msg, "late_failed")

    # --- rendering --------------------------------------------------------------------------------
    def _render(self, reply: Reply, msg: Message) -> str:
        if type(reply) is Text and msg.fmt == "xml":
            return wire.render_text_xml(msg.openid, msg.account, int(time.time()), reply.content)
        fields = reply_fields(reply, msg, int(time.time()))
        return "" if fields is None else wire.render(fields, msg.fmt)

    def _respond(self, plain: str, q: Query, fmt: str) -> Response:
        if not plain:
            return SUCCESS
        if q.encrypted and self.envelope is not None:
            encrypted = self.envelope.encrypt(plain.encode())
            now = int(time.time())
            timestamp, nonce = str(now), RANDOM.take(8).hex()
            signature = sign(self.token, timestamp, nonce, encrypted)
            if fmt == "xml":
                plain = wire.render_encrypted_xml(encrypted, signature, now, nonce)
            else:
                wrapper = {"Encrypt": encrypted, "MsgSignature": signature, "TimeStamp": now, "Nonce": nonce}
                plain = wire.render_json(wrapper)
        return Response(plain.encode(), CONTENT_TYPES[fmt])

    def _count(self, msg: Message, outcome: str) -> None:
        # Unknown kinds share one label: a sender must not be able to grow our metrics without bound.
        label = (msg.kind if self.router.knows(msg) else "unknown", outcome)
        counter = self._counters.get(label)
        if counter is None:
            counter = self._counters[label] = self.deps.metrics.wechat_messages.labels(*label)
        counter.inc()
