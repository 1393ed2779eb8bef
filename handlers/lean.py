"""Lean routes: the hottest exact paths answered by a plain HTTP delegate, not a RequestHandler.

Measured here (wrk, one process, a fixed answer): Tornado's RequestHandler path costs ~190 µs of
CPU per request, a plain `HTTPMessageDelegate` ~100 µs. The difference is the machinery a JSON
API uses and a webhook does not: the query parsed into lists and deep-copied, the routing
regexes, the handler object with its UI namespace, output transforms. /wechat takes thousands of
requests a second at peak, so it is a lean route (see `route_table()` in app.py): ~55 µs less CPU per
message than as a RequestHandler (of ~320 µs; bench/README.md).

A lean route still gets what every route gets: the request id (log lines and X-Request-Id), the
request metrics, the access log (path only, never the query), the JSON error shape
`{"code", "message"}`, and the client address (`_Switch` applies trusted proxies' headers for every route).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Coroutine
from http.client import responses
from typing import Any
from urllib.parse import unquote_plus

import tornado.web
from tornado import httputil
from tornado.log import access_log

from core.deps import Deps
from core.logs import request_id
from core.outage import is_storage_fault, is_unavailable
from handlers.base import HTTP_TEXT, HttpDate, count_request, error_code, request_id_for
from handlers.client_address import client_address, forwarded_scheme, is_trusted, networks

log = logging.getLogger(__name__)
_running: set[asyncio.Future[None]] = set()


class LeanRoute(httputil.HTTPMessageDelegate):
    """One request on one exact path. Subclasses implement `start()`, `data_received()` and `body_done()`."""

    methods: tuple[str, ...] = ("GET",)
    # Refusals that are a normal answer on this route (e.g. a grab's "sold out"): logged at INFO, not WARNING.
    expected_statuses: frozenset[int] = frozenset()

    def __init__(self, deps: Deps, route: str, conn: httputil.HTTPConnection) -> None:
        self.deps = deps
        self.route = route
        self.conn = conn
        self.started = time.perf_counter()
        self.method = ""
        self.path = ""
        self.query = ""
        self.answered = False
        self._rid = ""
        self._ip = ""

    # --- tornado's delegate interface -------------------------------------------------------------
    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.method = start_line.method
        self.path, _, self.query = start_line.path.partition("?")
        # The client's address (set by _Switch from a trusted proxy's headers, handlers/client_address.py).
        context = getattr(self.conn, "context", None)
        self._ip = str(getattr(context, "remote_ip", "") or "")
        self._rid = request_id_for(headers.get("X-Request-Id", ""))
        request_id.set(self._rid)
        if self.method not in self.methods:
            self.fail(405, error_code(405), HTTP_TEXT[405], [("Allow", ", ".join(self.methods))])
            return
        self.start(headers)

    def finish(self) -> None:
        if not self.answered:
            self.body_done()

    def on_connection_close(self) -> None:
        self.answered = True  # nobody to answer; work already started goes on (a retry finds its reply)

    # --- for subclasses ---------------------------------------------------------------------------
    def start(self, headers: httputil.HTTPHeaders) -> None:
        """Headers are in and the method is allowed: check what can be checked before the body."""

    def body_done(self) -> None:
        """The whole body is in (unless `answer()` was called early)."""
        raise NotImplementedError

    def arguments(self, names: frozenset[str]) -> dict[str, str]:
        """The query's arguments among `names` (the last of repeated ones), each cut to 512 characters."""
        found: dict[str, str] = {}
        for part in self.query.split("&"):
            name, _, value = part.partition("=")
            if "%" in name or "+" in name:
                name = unquote_plus(name, errors="replace")
            if name in names:
                if "%" in value or "+" in value:
                    value = unquote_plus(value, errors="replace")
                found[name] = value[:512]
        return found

    def client_ip(self) -> str:
        return self._ip

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Answer asynchronously; whatever escapes `work` is logged and answered 500, never lost."""
        task = asyncio.ensure_future(work)
        _running.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._ran)

    def _ran(self, task: asyncio.Future[None]) -> None:
        _running.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None and is_unavailable(exc):  # Redis or MongoDB down: one quiet line, "try again"
            log.warning("%s %s -> 503: %s", self.method, self.route, exc)
            if not self.answered:
                self.fail(503, "unavailable", HTTP_TEXT[503], [("Retry-After", "5")])
            return
        if exc is not None:
            log.error("%s %s failed", self.method, self.route, exc_info=exc)
        if not self.answered and is_storage_fault(exc):  # logged above; the client may try again
            self.fail(503, "unavailable", HTTP_TEXT[503], [("Retry-After", "5")])
        elif not self.answered:
            self.fail(500, error_code(500), HTTP_TEXT[500])

    def answer(self, status: int, body: bytes, content_type: str, extra: list[tuple[str, str]] | None = None) -> None:
        """Send the whole response (once; later calls do nothing)."""
        if self.answered:
            return
        self.answered = True
        headers = httputil.HTTPHeaders()
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(body))
        headers["Date"] = HttpDate.now()
        headers["X-Request-Id"] = self._rid
        headers["X-Content-Type-Options"] = "nosniff"  # the echostr answer echoes the caller's text
        for name, value in extra or ():
            headers[name] = value
        if self.method == "HEAD":
            body = b""  # headers only; Content-Length says what a GET would have sent
        reason = responses.get(status, "Unknown")
        self.conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", status, reason), headers, body)
        self.conn.finish()
        elapsed = time.perf_counter() - self.started
        count_request(self.deps, self.route, self.method, status, elapsed)
        level = (
            logging.INFO
            if status < 400 or status in self.expected_statuses
            else logging.WARNING
            if status < 500
            else logging.ERROR
        )
        if access_log.isEnabledFor(level):
            # Tornado's access-log line, with the path only: the query carries openids and signatures.
            access_log.log(level, "%d %s %s (%s) %.2fms", status, self.method, self.route, self.client_ip(),
                           elapsed * 1000)  # fmt: skip

    def fail(self, status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None) -> None:
        body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
        self.answer(status, body, "application/json; charset=utf-8", [("Cache-Control", "no-store"), *(extra or ())])


LeanFactory = type[LeanRoute]


class Application(tornado.web.Application):
    """Tornado's Application, with lean routes looked up before any routing: exact paths in one dict
    lookup, then the few regex routes (a pattern with a group, e.g. `/api/mp/coupons/(?P<batch_id>[^/]+)/grab`),
    whose metrics and logs are labelled with the pattern, not the path."""

    def __init__(self, rules: list[Any], deps: Deps, lean: dict[str, LeanFactory], **settings: Any) -> None:
        super().__init__(rules, **settings)
        self.deps = deps
        self.lean = {p: f for p, f in lean.items() if "(" not in p}
        self.lean_patterns = [(re.compile(p), p, f) for p, f in lean.items() if "(" in p]
        server = deps.settings.server
        self.proxies = networks(server.trusted_proxies) if server.xheaders else ()

    def lean_route(self, path: str) -> tuple[str, LeanFactory] | None:
        factory = self.lean.get(path)
        if factory is not None:
            return path, factory
        for regex, pattern, factory in self.lean_patterns:
            if regex.fullmatch(path):
                return pattern, factory
        return None

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        return _Switch(self, server_conn, request_conn)


class _Switch(httputil.HTTPMessageDelegate):
    """Picks the lean route for the request's path, or Tornado's routing for everything else."""

    __slots__ = ("app", "server_conn", "conn", "delegate")

    def __init__(self, app: Application, server_conn: object, conn: httputil.HTTPConnection) -> None:
        self.app, self.server_conn, self.conn = app, server_conn, conn
        self.delegate: httputil.HTTPMessageDelegate | None = None

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> Any:
        assert isinstance(start_line, httputil.RequestStartLine)
        if self.app.proxies:
            self._forwarded(headers)
        found = self.app.lean_route(start_line.path.partition("?")[0])
        if found is not None:
            self.delegate = found[1](self.app.deps, found[0], self.conn)
        else:
            self.delegate = tornado.web.Application.start_request(self.app, self.server_conn, self.conn)
        return self.delegate.headers_received(start_line, headers)

    def _forwarded(self, headers: httputil.HTTPHeaders) -> None:
        """Every request of the connection starts again from the TCP peer (a proxy may multiplex clients)."""
        ctx = getattr(self.conn, "context", None)
        if ctx is None:
            return
        peer = ctx.__dict__.setdefault("peer_ip", ctx.remote_ip)
        scheme = ctx.__dict__.setdefault("peer_protocol", ctx.protocol)
        ctx.remote_ip = client_address(peer, headers, self.app.proxies)
        ctx.protocol = forwarded_scheme(is_trusted(peer, self.app.proxies), headers, scheme)

    def data_received(self, chunk: bytes) -> Any:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()
