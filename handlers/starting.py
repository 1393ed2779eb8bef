"""What the port answers while the service starts: 503 with "starting" / "draining", never a refused connection.

The port opens first thing, so a load balancer or a restart script sees the process at once and
/healthz says what it is waiting for: "starting" (databases, indexes) then "draining" (start-up
flushes what a previous process left in Redis). Every other path answers 503 `starting` with
Retry-After; once start-up is done the server's callback becomes the real application.
"""

from __future__ import annotations

import json
from typing import Any

from tornado import httputil

from handlers.base import HttpDate


class StartingGate(httputil.HTTPServerConnectionDelegate):
    def __init__(self) -> None:
        self.phase = "starting"

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        return _Answer(self, request_conn)


class _Answer(httputil.HTTPMessageDelegate):
    def __init__(self, gate: StartingGate, conn: httputil.HTTPConnection) -> None:
        self.gate, self.conn, self.path, self.method = gate, conn, "", "GET"

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> Any:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.path, self.method = start_line.path.partition("?")[0], start_line.method
        return None

    def finish(self) -> None:
        if self.path == "/healthz":
            data = {"status": self.gate.phase, "checks": {}, "message": "服务正在启动"}
        else:
            data = {"code": "starting", "message": "服务正在启动，请稍后重试"}
        body = json.dumps(data, ensure_ascii=False).encode()
        headers = httputil.HTTPHeaders(
            {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(body)), "Retry-After": "1",
             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Date": HttpDate.now()}
        )  # fmt: skip
        self.conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 503, "Service Unavailable"), headers,
                                b"" if self.method == "HEAD" else body)  # fmt: skip
        self.conn.finish()
