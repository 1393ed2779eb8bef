"""`/wechat`: the official account's callback (GET echostr check, POST messages and events).

A lean route (`handlers.lean`): WeChat posts every message here and the path is the service's
hottest. The query is checked as soon as the headers are in (a wrong signature never gets its
body read), the body is read with a small size limit, and `wechat_bot.bot.Bot` does the rest.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tornado import httputil

from handlers.base import HTTP_TEXT, error_code
from handlers.lean import LeanRoute
from wechat_bot.callback import Query, Rejected, check_query
from wechat_bot.setup import get_bot

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # WeChat's messages are a few KB at most
WINDOW_SECONDS = 300  # accepted clock difference between WeChat and us
QUERY_NAMES = frozenset({"signature", "timestamp", "nonce", "encrypt_type", "msg_signature", "echostr"})


class WeChatCallback(LeanRoute):
    methods = ("GET", "POST")

    def start(self, headers: httputil.HTTPHeaders) -> None:
        self._arrived = time.monotonic()
        self._chunks: list[bytes] = []
        self._size = 0
        self._query = Query(**self.arguments(QUERY_NAMES))
        try:
            check_query(self._query, self.deps.settings.wechat.token, time.time(), WINDOW_SECONDS)
        except Rejected as exc:
            self._reject(exc)
            return
        if self.method == "POST":
            length = headers.get("Content-Length", "")
            if length and (not length.isdigit() or int(length) > MAX_BODY):
                self._reject(Rejected(413, "too_large", "请求内容过大", f"Content-Length {length[:20]}"))

    def data_received(self, chunk: bytes) -> None:
        # A chunked body has no Content-Length to refuse early: keep at most MAX_BODY, answer 413 at the
        # end (the server's max_body_bytes still bounds what is read and dropped).
        self._size += len(chunk)
        if not self.answered and self._size <= MAX_BODY:
            self._chunks.append(chunk)

    def body_done(self) -> None:
        if self.method == "GET":
            # WeChat checks the URL with a plain-signed GET and expects echostr back verbatim.
            self.answer(200, self._query.echostr.encode(), "text/plain; charset=utf-8")
        elif self._size > MAX_BODY:
            self._reject(Rejected(413, "too_large", "请求内容过大", f"chunked body over {MAX_BODY} bytes"))
        else:
            self.run(self._post())

    async def _post(self) -> None:
        bot = get_bot(self.deps)
        if bot is None:
            self.fail(503, error_code(503), HTTP_TEXT[503])
            return
        try:
            response = await bot.handle(self._query, b"".join(self._chunks), self._arrived)
        except Rejected as exc:
            self._reject(exc)
            return
        self.answer(200, response.body, response.content_type)

    def _reject(self, exc: Rejected) -> None:
        log.info("/wechat %s from %s refused %s: %s", self.method, self.client_ip(), exc.status, exc.reason)
        self.fail(exc.status, exc.code, exc.message)


routes: list[tuple[str, Any]] = [
    (r"/wechat", WeChatCallback),
]
