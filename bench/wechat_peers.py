"""The peers our /wechat is measured against, each a process of its own (started by wechat_callback.py).

- bare:     a Tornado handler answering a fixed body: the ceiling of one Tornado process;
- werobot:  WeRoBot (PyPI) in safe mode answering the same text, as a WSGI app for gunicorn
            (`gunicorn -w 1 bench.wechat_peers:werobot_wsgi`), or on WeRoBot's own Tornado adapter.

WeRoBot does no de-duplication, no replay check and reads no rules: it decrypts, parses,
answers a constant and encrypts, which is the least any callback must do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

BENCH = {
    "token": os.environ.get("BENCH_TOKEN", "demo-callback-token"),
    "app_id": os.environ.get("BENCH_APP_ID", "wxdemo0000000oa"),
    "aes_key": os.environ.get("BENCH_AES_KEY", "Mg07ILBZw2Jjxrzew1UcCaqrI559N3rxGSWq5L3Ozic"),
    "reply": os.environ.get("BENCH_REPLY", "正在进行的投票都在“齐鲁工惠”小程序里"),
}


def make_robot() -> Any:
    from werobot import WeRoBot

    robot = WeRoBot(token=BENCH["token"], encoding_aes_key=BENCH["aes_key"], app_id=BENCH["app_id"])
    robot.config["SESSION_STORAGE"] = False  # no session file I/O: WeRoBot at its fastest

    @robot.text  # type: ignore[untyped-decorator]  # WeRoBot has no type hints
    def vote(message: Any) -> str:
        return BENCH["reply"]

    return robot


def werobot_wsgi_app() -> Any:
    return make_robot().wsgi


werobot_wsgi = None
if os.environ.get("BENCH_WEROBOT_WSGI"):
    werobot_wsgi = werobot_wsgi_app()


async def serve(kind: str, port: int) -> None:
    import tornado.web
    from tornado.httpserver import HTTPServer

    if kind == "bare":

        class Bare(tornado.web.RequestHandler):
            def post(self) -> None:
                self.set_header("Content-Type", "application/xml; charset=utf-8")
                self.finish(b"<xml><Encrypt><![CDATA[fixed]]></Encrypt></xml>")

        app = tornado.web.Application([(r"/wechat", Bare)])
    else:
        from werobot.contrib.tornado import make_handler

        app = tornado.web.Application([(r"/wechat", make_handler(make_robot()))])
    server = HTTPServer(app)
    server.listen(port, "127.0.0.1")
    sys.stdout.write(f"ready {kind} {port}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bare", "werobot-tornado"])
    parser.add_argument("--port", type=int, required=True)
    ns = parser.parse_args()
    import logging

    logging.getLogger("tornado.access").disabled = True
    asyncio.run(serve(ns.kind, ns.port))
