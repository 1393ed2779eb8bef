"""A fake drand HTTP endpoint for tests and the demo (these machines have no internet).

`GET /info` and `GET /public/<round>` / `/public/latest` shaped like drand's: rounds are published
`period` seconds apart from `genesis_time`; a future round answers 425 (drand says "Too Early").
Signatures are random bytes fixed per round; randomness = SHA-256(signature), as drand's.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler


@dataclass
class FakeDrand:
    genesis_time: int = field(default_factory=lambda: int(time.time()) - 3600)
    period: int = 3
    secret: bytes = b"fake-drand"
    clock_offset: float = 0.0  # tests move time forward instead of sleeping

    def now(self) -> float:
        return time.time() + self.clock_offset

    def latest(self) -> int:
        return int((self.now() - self.genesis_time) // self.period) + 1

    def round(self, r: int) -> dict[str, object] | None:
        if r < 1 or r > self.latest():
            return None
        sig = hashlib.sha512(self.secret + r.to_bytes(8, "big")).hexdigest() * 3  # 96 bytes, like BLS
        return {"round": r, "randomness": hashlib.sha256(bytes.fromhex(sig)).hexdigest(), "signature": sig}


class _Info(RequestHandler):
    def initialize(self, state: FakeDrand) -> None:
        self.state = state

    def get(self) -> None:
        s = self.state
        self.finish({"period": s.period, "genesis_time": s.genesis_time, "hash": "fake", "public_key": "fake"})


class _Public(RequestHandler):
    def initialize(self, state: FakeDrand) -> None:
        self.state = state

    def get(self, which: str) -> None:
        r = self.state.latest() if which == "latest" else int(which)
        data = self.state.round(r)
        if data is None:
            self.set_status(425)
            self.finish({"error": "Requested future beacon"})
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


@dataclass
class FakeDrandServer:
    state: FakeDrand
    port: int
    http_server: HTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.http_server.stop()


def start_fake_drand(port: int = 0, state: FakeDrand | None = None) -> FakeDrandServer:
    state = state or FakeDrand()
    app = Application([(r"/info", _Info, {"state": state}), (r"/public/(latest|\d{1,12})", _Public, {"state": state})])
    sockets = bind_sockets(port, address="127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    return FakeDrandServer(state, sockets[0].getsockname()[1], server)
