"""Base request handlers: injected deps, request ids, metrics, and one JSON error shape.

Every JSON error is `{"code": "...", "message": "..."}` with a Chinese message a person can act on.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from http import HTTPStatus
from typing import Any

import tornado.web
from prometheus_client import Counter, Histogram
from tornado import httputil

from core.deps import Deps, Slot
from core.errors import BadInput, ServiceError
from core.logs import request_id
from core.outage import is_storage_fault, is_unavailable

log = logging.getLogger(__name__)

# Generic texts for HTTP errors raised by Tornado itself (unknown route, wrong method, body too large).
HTTP_TEXT = {
    400: "请求格式不正确",
    401: "请先登录",
    403: "没有权限执行此操作",
    404: "请求的地址不存在",
    405: "不支持该请求方法",
    413: "请求内容过大",
    429: "请求太频繁，请稍后再试",
    500: "服务器内部错误，请稍后重试",
    503: "服务暂时不可用，请稍后重试",
}


# Request ids: a random per-process prefix and a counter (unique, and no getrandom() per request).
_RID_PREFIX = secrets.token_hex(4)
_rid_counter = itertools.count(1)
_CLIENT_RID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# (route, method, status) -> the labelled request counter and latency histogram
METRIC_CHILDREN = Slot[dict[tuple[str, str, int], tuple[Counter, Histogram]]]("http.metric_children")


class HttpDate:
    """The Date header, formatted once a second rather than on every response."""

    second = -1
    text = ""

    @classmethod
    def now(cls) -> str:
        t = time.time()
        if int(t) != cls.second:
            cls.second, cls.text = int(t), httputil.format_timestamp(t)
        return cls.text


def request_id_for(client_value: str) -> str:
    """A proxy's X-Request-Id is kept; anything odd is replaced, never echoed."""
    if _CLIENT_RID.fullmatch(client_value):
        return client_value
    return f"{_RID_PREFIX}{next(_rid_counter):08x}"


def count_request(deps: Deps, route: str, method: str, status: int, seconds: float) -> None:
    """Request metrics; the labelled children are looked up once per process, not on every request."""
    key = (route, method, status)
    children = deps.get_or_make(METRIC_CHILDREN, dict)
    pair = children.get(key)
    if pair is None:
        m = deps.metrics
        pair = children[key] = (m.http_requests.labels(route, method, str(status)), m.http_latency.labels(route))
    pair[0].inc()
    pair[1].observe(seconds)


def error_code(status: int) -> str:
    """The stable `code` of a plain HTTP error: 405 -> "method_not_allowed"."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "error"


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_exceeds(raw: bytes, limit: int) -> bool:
    """True when arrays/objects in `raw` nest deeper than `limit` (checked before parsing: the parser and
    every walk over the result recurse, and `[[[[...` deep enough is a RecursionError, i.e. a 500)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case: not even that many brackets in all
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b'""', raw)):  # brackets inside strings do not nest
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


class BaseHandler(tornado.web.RequestHandler):
    deps: Deps
    _request_id = ""

    def initialize(self, deps: Deps, route: str = "") -> None:
        self.deps = deps
        self.route = route or self.__class__.__name__
        self._started = time.perf_counter()

    def prepare(self) -> Any:
        rid = request_id_for(self.request.headers.get("X-Request-Id", ""))
        request_id.set(rid)
        self._request_id = rid
        self._headers["X-Request-Id"] = rid
        return None

    def clear(self) -> None:
        # Tornado's clear(), minus formatting the date on every response and naming its version in a
        # Server header (nobody needs to know which server to attack); tests/core/test_ops.py pins it.
        # nosniff: a browser must never reinterpret an answer (an echoed text, a JSON error) as HTML or script.
        self._headers = httputil.HTTPHeaders(
            {"Content-Type": "text/html; charset=UTF-8", "Date": HttpDate.now(), "X-Content-Type-Options": "nosniff"}
        )
        self.set_default_headers()
        self._write_buffer = []
        self._status_code = 200
        self._reason = "OK"
        if self._request_id:  # send_error() clears headers; the request id must survive so errors can be traced
            self._headers["X-Request-Id"] = self._request_id

    def on_finish(self) -> None:
        elapsed = time.perf_counter() - self._started
        count_request(self.deps, self.route, self.request.method or "", self.get_status(), elapsed)

    def client_ip(self) -> str:
        return self.request.remote_ip or ""

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Expected refusals (a closed poll, a bad field) are not crashes: keep the log for real ones.
        if isinstance(value, ServiceError):
            log.info("%s %s -> %s %s", self.request.method, self.request.path, value.status, value.code)
            return
        if isinstance(value, tornado.web.HTTPError) and value.status_code < 500:
            return
        if is_unavailable(value):  # Redis or MongoDB down: one line (core.outage quiets the repeats), no traceback
            log.warning("%s %s -> 503: %s", self.request.method, self.route, value)
            return
        super().log_exception(typ, value, tb)


class JsonHandler(BaseHandler):
    """Speaks JSON both ways and never answers an error as HTML."""

    def set_default_headers(self) -> None:
        headers = self._headers  # constants: no need for set_header()'s per-call checks
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["Cache-Control"] = "no-store"

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or a 400 that says what is wrong."""
        raw = self.request.body
        if not raw:
            raise BadInput("请求体不能为空，请提交 JSON 对象", code="invalid_json")
        server = self.deps.settings.server
        if len(raw) > server.max_json_bytes:
            raise BadInput(f"请求体过大（JSON 最多 {server.max_json_bytes // 1024} KB）", code="invalid_json")
        if nesting_exceeds(raw, server.max_json_depth):
            raise BadInput(f"JSON 嵌套层数过多（最多 {server.max_json_depth} 层）", code="invalid_json")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadInput("请求体不是合法的 JSON", code="invalid_json") from None
        if not isinstance(body, dict):
            raise BadInput("请求体必须是 JSON 对象", code="invalid_json")
        return body

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ServiceError):
            self.set_status(exc.status)
            body = {"code": exc.code, "message": exc.message}
        elif is_unavailable(exc) or is_storage_fault(exc):  # nothing the caller did wrong: "try again" is true
            self.set_status(503)
            self.set_header("Retry-After", "5")
            body = {"code": "unavailable", "message": HTTP_TEXT[503]}
        else:
            reason = error_code(status_code)
            message = HTTP_TEXT.get(status_code, "请求失败")
            if isinstance(exc, tornado.web.HTTPError) and exc.log_message and status_code < 500:
                message = exc.log_message
            body = {"code": reason, "message": message}
        self.finish(json.dumps(body, ensure_ascii=False))


class NotFoundHandler(JsonHandler):
    """The default handler: unknown paths get a JSON 404, not Tornado's HTML page."""

    def prepare(self) -> None:
        super().prepare()
        raise tornado.web.HTTPError(404)


HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def implemented_methods(handler: type[Any]) -> list[str]:
    """The HTTP methods a handler class answers (for `Allow` and the OpenAPI document); a lean route
    (handlers/lean.py) lists its own."""
    if not issubclass(handler, tornado.web.RequestHandler):
        return [m.lower() for m in getattr(handler, "methods", ())]
    return [m for m in HTTP_METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)]
