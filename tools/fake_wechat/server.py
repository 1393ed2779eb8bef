"""The fake WeChat platform over real HTTP: WeChat's API paths plus the /_fake/ control API."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from .control import ControlHandler
from .dispatch import handle
from .state import FakeWeChat

log = logging.getLogger(__name__)


class ApiHandler(tornado.web.RequestHandler):
    """Every WeChat API path; unknown paths answer errcode 99999 so a missing fake API is obvious."""

    SUPPORTED_METHODS = ("GET", "POST")

    def initialize(self, state: FakeWeChat) -> None:
        self.state = state

    def compute_etag(self) -> None:
        return None  # no ETag hashing of a million JSON answers

    async def get(self, path: str) -> None:
        await self._serve(path)

    async def post(self, path: str) -> None:
        await self._serve(path)

    async def _serve(self, path: str) -> None:
        state = self.state
        plan = state.plan(path)
        if plan.delay > 0:
            # Non-blocking: other calls proceed; the effect (e.g. a delivery) still happens after
            # the delay even if the client gave up, like a slow WeChat that did send the message.
            await asyncio.sleep(plan.delay)
        query = {k: v[0].decode("utf-8", "replace") for k, v in self.request.query_arguments.items() if v}
        resp = handle(state, self.request.method or "GET", path, query, self.request.body, plan)
        self.set_status(resp.status)
        self.set_header("Content-Type", resp.content_type)
        self.finish(resp.body)


def _quiet_log(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    if status >= 500 and not isinstance(handler, ApiHandler):
        log.warning("fake wechat %s %s -> %s", handler.request.method, handler.request.uri, status)


def make_fake_app(state: FakeWeChat) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/_fake/([a-z_]+)", ControlHandler, {"state": state}),
            (r"/(.*)", ApiHandler, {"state": state}),
        ],
        log_function=_quiet_log,
    )


@dataclass
class FakeWeChatServer:
    state: FakeWeChat
    host: str
    port: int
    http_server: HTTPServer

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        self.http_server.stop()
        await self.http_server.close_all_connections()


async def start_fake_wechat(
    port: int = 0,
    host: str = "127.0.0.1",
    accounts: dict[str, str] | None = None,
    state: FakeWeChat | None = None,
) -> FakeWeChatServer:
    """Starts the fake on the running event loop; port 0 picks a free port (see `.url`)."""
    if state is None:
        state = FakeWeChat(accounts)
    elif accounts:
        state.accounts.update(accounts)
    sockets = bind_sockets(port, address=host)
    server = HTTPServer(make_fake_app(state))
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    return FakeWeChatServer(state=state, host=host, port=bound, http_server=server)
