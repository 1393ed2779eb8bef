"""`/wechat`: the official account's callback (GET echostr check, POST messages and events).

Thin on purpose: the query is checked in `prepare()` (a wrong signature never gets its body
read), the body is read with a small size limit, and `wechat_bot.bot.Bot` does the rest.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import tornado.web

from handlers.base import JsonHandler
from wechat_bot.callback import Query, Rejected, check_query
from wechat_bot.setup import get_bot

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # WeChat's messages are a few KB at most
WINDOW_SECONDS = 300  # accepted clock difference between WeChat and us


@tornado.web.stream_request_body
class WeChatCallbackHandler(JsonHandler):
    SUPPORTED_METHODS = ("GET", "POST")  # anything else is a 405 before any work

    def set_default_headers(self) -> None:
        pass  # each answer sets its own Content-Type (XML, JSON, text or a JSON error)

    def prepare(self) -> None:
        super().prepare()
        self._arrived = time.monotonic()
        self._chunks: list[bytes] = []
        self._size = 0
        args = self.request.query_arguments
        q = self._query = Query(
            signature=_arg(args, "signature"), timestamp=_arg(args, "timestamp"), nonce=_arg(args, "nonce"),
            encrypt_type=_arg(args, "encrypt_type"), msg_signature=_arg(args, "msg_signature"),
            echostr=_arg(args, "echostr"),
        )  # fmt: skip
        try:
            check_query(q, self.deps.settings.wechat.token, time.time(), WINDOW_SECONDS)
        except Rejected as exc:
            self._reject(exc)
            return
        if self.request.method == "POST":
            length = self.request.headers.get("Content-Length", "")
            if length and (not length.isdigit() or int(length) > MAX_BODY):
                self._reject(Rejected(413, "too_large", "请求内容过大", f"Content-Length {length[:20]}"))
                return
            self.request.connection.set_max_body_size(MAX_BODY)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_BODY:
            self._chunks.append(chunk)

    def get(self) -> None:
        # WeChat checks the URL with a plain-signed GET and expects echostr back verbatim.
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self._query.echostr)

    async def post(self) -> None:
        bot = get_bot(self.deps)
        if bot is None:
            raise tornado.web.HTTPError(503)
        if self._size > MAX_BODY:
            self._reject(Rejected(413, "too_large", "请求内容过大", f"{self._size} bytes"))
            return
        try:
            response = await bot.handle(self._query, b"".join(self._chunks), self._arrived)
        except Rejected as exc:
            self._reject(exc)
            return
        self.set_header("Content-Type", response.content_type)
        self.finish(response.body)

    def _request_summary(self) -> str:
        # Tornado's access log line (4xx are logged at WARNING): the path only, never the query,
        # which carries the worker's openid and the request's signatures.
        return f"{self.request.method} {self.request.path} ({self.client_ip()})"

    def _reject(self, exc: Rejected) -> None:
        log.info("/wechat %s from %s refused %s: %s", self.request.method, self.client_ip(), exc.status, exc.reason)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write_json({"code": exc.code, "message": exc.message}, exc.status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        super().write_error(status_code, **kwargs)


def _arg(args: dict[str, list[bytes]], name: str) -> str:
    values = args.get(name)
    return values[-1].decode("utf-8", "replace")[:512] if values else ""


routes: list[tuple[str, Any]] = [
    (r"/wechat", WeChatCallbackHandler),
]
