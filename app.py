"""山东工会 / 齐鲁工惠 backend: the route table (`make_app`) and the entry point (`python app.py --config PATH`)."""

from __future__ import annotations

import core.prebind  # first: binds the port before the heavy imports below (only when run as the service)

# isort: split
import argparse
import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import tornado.web
from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets

import scheduler
from core.config import ConfigError, ServerSettings, Settings, load_settings
from core.deps import Deps, build_deps
from core.embedded import EmbeddedServer, start_mongo, start_redis
from core.lifecycle import SHUTDOWN_LIMIT, Running, exit_after, shutdown, stop_event
from core.logs import setup_logging
from core.supervisor import Supervisor
from handlers import console, ops
from handlers import wechat as wechat_callback
from handlers.base import NotFoundHandler
from handlers.console.base import cookie_flags as console_cookie_flags
from handlers.lean import Application, LeanRoute
from handlers.slow_clients import HeaderDeadline
from handlers.starting import StartingGate
from miniprogram_api import activities as mp_activities
from miniprogram_api import auth as mp_auth
from miniprogram_api import benefits as mp_benefits
from miniprogram_api import birthdays as mp_birthdays
from miniprogram_api import competitions as mp_competitions
from miniprogram_api import consultation as mp_consultation
from miniprogram_api import counselling as mp_counselling
from miniprogram_api import coupons as mp_coupons
from miniprogram_api import home as mp_home
from miniprogram_api import learning as mp_learning
from miniprogram_api import library as mp_library
from miniprogram_api import library_checkins as mp_reading
from miniprogram_api import lotteries as mp_lotteries
from miniprogram_api import members as mp_members
from miniprogram_api import openapi as mp_openapi
from miniprogram_api import orgs as mp_orgs
from miniprogram_api import polls as mp_polls
from miniprogram_api import surveys as mp_surveys
from scheduler import background
from seed import seed_all
from services.editors import auth as console_auth
from services.indexes import ensure_indexes
from storage import meta
from wechat_bot import consultation as consultation_bot
from wechat_bot import setup as wechat_bot_setup

VERSION = "0.1.0"
log = logging.getLogger("sdgh")


def route_table() -> list[tuple[str, type[tornado.web.RequestHandler] | type[LeanRoute]]]:
    """Every URL the service answers, in one list: read it to know the surface."""
    return [
        *ops.routes,  # /healthz, /metrics
        *wechat_callback.routes,  # /wechat (official account callback; a lean route: handlers/lean.py)
        *mp_openapi.routes,  # /api/openapi.json
        *mp_auth.routes,  # /api/mp/login, logout, me
        *mp_members.routes,  # /api/mp/members/bind
        *mp_home.routes,  # /api/mp/home: the worker's home for their org
        *mp_orgs.routes,  # /api/mp/orgs/{code}, /children
        *mp_polls.routes,  # /api/mp/polls, /{poll_id}, /ballots, /ballots/mine
        *mp_surveys.routes,  # /api/mp/surveys, /{survey_id}, /draft, /responses
        *mp_activities.routes,  # /api/mp/activities, /{id}, /signups, /checkin; /api/mp/signups, /{id}/cancel
        *mp_competitions.routes,  # /api/mp/competitions, /{id}, /{id}/ranking
        *mp_consultation.routes,  # /api/mp/cases, /{case_id}, /messages, /reopen (惠工咨询 / 法律援助)
        *mp_counselling.routes,  # /api/mp/counselling/counsellors, /slots, /slots/{id}/hold, /bookings/{id}/...
        *mp_learning.routes,  # /api/mp/learning/courses, units (start, heartbeat, read, quiz), credits, certificates
        *mp_reading.routes,  # /api/mp/library/checkins, /campaigns, /campaigns/{id}/ranking (阅读打卡, 读书日)
        *mp_library.routes,  # /api/mp/library/books, holds, mine, loans/{copy}/renew, code, ebooks/{book}/..., rankings
        *mp_lotteries.routes,  # /api/mp/lotteries, /{id}, /entries, /entries/mine, /plays, /publication
        *mp_birthdays.routes,  # /api/mp/birthday
        *mp_coupons.routes,  # /api/mp/coupons, /{batch_id}, /{batch_id}/grab
        *mp_benefits.routes,  # /api/mp/benefits, /{entitlement_id}/code
        *console.routes,  # /admin/ (editors' console pages), /api/admin/ (their JSON), /static/console/
    ]


class Server(HTTPServer):
    """Tornado's HTTP server, with Nagle's algorithm off for good on every connection and slow clients cut off.

    Tornado turns TCP_NODELAY on at the end of every response and off again after it: two
    setsockopt() calls per request (~3% of a /wechat request's CPU). Our responses leave in one
    write and streamed ones should not wait for ACKs either, so no-delay stays on.
    `header_timeout` closes a connection whose request headers dribble in (handlers/slow_clients.py);
    forwarded headers are applied by the application from trusted proxies only, never by Tornado's xheaders.
    """

    def initialize(self, *args: Any, header_timeout: float | None = None, **kwargs: Any) -> None:
        kwargs["xheaders"] = False  # handlers/client_address.py: from server.trusted_proxies only
        super().initialize(*args, **kwargs)
        self.header_deadline = HeaderDeadline(header_timeout) if header_timeout else None

    @classmethod
    def for_settings(cls, app: httputil.HTTPServerConnectionDelegate, s: ServerSettings) -> Server:
        return cls(
            app, max_body_size=s.max_body_bytes, idle_connection_timeout=s.idle_connection_timeout,
            body_timeout=s.body_timeout, header_timeout=s.header_timeout,
        )  # fmt: skip

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        stream.set_nodelay(True)
        stream.set_nodelay = _keep_nodelay  # type: ignore[method-assign]
        if self.header_deadline is not None:
            self.header_deadline.watch(stream)
        super().handle_stream(stream, address)

    def stop(self) -> None:
        super().stop()
        if self.header_deadline is not None:
            self.header_deadline.stop()


def _keep_nodelay(value: bool) -> None:
    pass


def make_app(deps: Deps, **settings: Any) -> tornado.web.Application:
    rules, lean = [], {}
    table = route_table()
    for pattern, handler in table:
        if issubclass(handler, LeanRoute):
            lean[pattern] = handler  # an exact path, matched before any routing
        else:
            rules.append((pattern, handler, {"deps": deps, "route": pattern}))
    return Application(
        rules,
        deps,
        lean,
        default_handler_class=NotFoundHandler,
        default_handler_args={"deps": deps, "route": "not_found"},
        cookie_secret=deps.settings.server.cookie_secret,
        xsrf_cookies=False,  # console handlers check XSRF themselves; WeChat and the API do not send it
        mp_openapi=cache(partial(mp_openapi.build_document, table, VERSION)),  # built on first request
        xsrf_cookie_kwargs=console_cookie_flags(deps.settings.server.public_url),  # the login form's `_xsrf`
        **settings,
    )


# Feature start-up hooks (caches, flushers, the scheduler): each gets Deps once the app is ready.
StartHook = Callable[[Deps], Awaitable[None]]


def start_hooks() -> list[StartHook]:
    return [
        wechat_bot_setup.start,  # the official account's conversation (content cache, dedupe)
        background.start,  # every flusher, consumer, loop and job: the one list in scheduler/background.py
        console_auth.start,  # editors' console: a hint on how to create the first admin when none exists
        consultation_bot.start,  # consultation: unfollowing drops drafts and the openid on cases
        wechat_bot_setup.freeze_gc,  # keep last: parks start-up objects outside the cyclic GC (p99)
    ]


def stop_hooks() -> list[StartHook]:
    """Graceful stops, run before the clients close (background loops are cancelled after them)."""
    return [
        scheduler.stop,  # pushes: finish and record in-flight sends, hand over leadership
    ]


async def start_services(settings: Settings) -> tuple[list[EmbeddedServer], str, str]:
    """Start the embedded Redis / MongoDB-wire servers where no URL is configured (both at once)."""
    redis_url, mongo_url = settings.redis.url, settings.mongo.url
    wanted = ([start_redis(settings.data_path)] if not redis_url else []) + (
        [start_mongo(settings.data_path)] if not mongo_url else []
    )
    results = await asyncio.gather(*wanted, return_exceptions=True)
    embedded = [r for r in results if isinstance(r, EmbeddedServer)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        for server in embedded:
            server.stop()
        raise failed[0]
    for server in embedded:
        if server.name == "redis":
            redis_url = server.url
        else:
            mongo_url = server.url
    return embedded, redis_url, mongo_url


def spawn_workers(count: int, config: Path, redis_url: str, mongo_url: str) -> list[subprocess.Popen[bytes]]:
    """Extra worker processes on the same port (SO_REUSEPORT), sharing our Redis and MongoDB."""
    env = dict(os.environ, SDGH_REDIS_URL=redis_url, SDGH_MONGO_URL=mongo_url, SDGH_DEMO_FAKE_WECHAT="false")
    from core.embedded import _die_with_parent

    cmd = [sys.executable, str(Path(__file__).resolve()), "--config", str(config), "--worker"]
    return [subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent) for _ in range(count)]


async def serve(settings: Settings, config_path: Path, is_worker: bool) -> None:
    """Open the port at once (answering 503 "starting"/"draining"), start, serve until SIGTERM, stop in bounded time."""
    stop = stop_event()
    gate = StartingGate()
    server = Server.for_settings(gate, settings.server)
    reuse = settings.server.workers > 1
    server.add_sockets(
        core.prebind.take() or bind_sockets(settings.server.port, settings.server.host, reuse_port=reuse)
    )
    run = Running()
    try:
        starting = asyncio.ensure_future(_start(settings, gate, run, is_worker))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stop requested during start-up")
            starting.cancel()
            await asyncio.wait([starting], timeout=5)
        else:
            starting.result()  # a start-up error ends here with its message
            assert run.deps is not None
            server.request_callback = make_app(run.deps)
            if not is_worker and settings.server.workers > 1:
                run.workers = spawn_workers(settings.server.workers - 1, config_path, run.redis_url, run.mongo_url)
            log.info(
                "serving on http://%s:%s (pid %s%s)", settings.server.host, settings.server.port, os.getpid(),
                ", worker" if is_worker else "",
            )  # fmt: skip
            await stopped
        log.info("stopping")
    finally:
        exit_after(SHUTDOWN_LIMIT)
        await shutdown(server, run, stop_hooks())
        log.info("stopped")


async def _start(settings: Settings, gate: StartingGate, run: Running, is_worker: bool) -> None:
    run.embedded, run.redis_url, run.mongo_url = await start_services(settings)
    deps = run.deps = build_deps(settings, redis_url=run.redis_url, mongo_url=run.mongo_url)
    if run.embedded:
        deps.spawn(Supervisor(run.embedded).run(), "embedded-supervisor")  # restarts a dead Redis / MongoDB-wire
    if settings.demo.fake_wechat and not is_worker:
        from tools.fake_wechat import start_fake_wechat

        run.fake = await start_fake_wechat(port=settings.demo.fake_wechat_port)
        log.info("demo: fake WeChat platform at %s", run.fake.url)
    await check_reachable(deps, run.redis_url, run.mongo_url)
    await ensure_indexes(deps.db)
    await seed_all(deps.db)
    await meta.record_boot(deps.db, VERSION)
    gate.phase = "draining"  # start hooks flush what a previous process left in Redis
    for hook in start_hooks():
        await hook(deps)


class StartupError(Exception):
    """A dependency is missing at start-up; the message is the one line an operator needs."""


async def check_reachable(deps: Deps, redis_url: str, mongo_url: str) -> None:
    """Fail fast with a clear line instead of a traceback when Redis or MongoDB is down at start."""
    from core.db import ping_mongo, ping_redis

    for name, url, ping in (("redis", redis_url, ping_redis(deps.redis)), ("mongo", mongo_url, ping_mongo(deps.mongo))):
        try:
            await asyncio.wait_for(ping, 10)
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            raise StartupError(f"{name} at {_redact(url)} is unreachable: {type(exc).__name__}") from None


def _redact(url: str) -> str:
    """Never log credentials embedded in a URL."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="山东工会 / 齐鲁工惠 backend")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="path of config.yaml")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # spawned by the main process
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)  # noqa: T201 - the one line an operator reads
        return 2
    if args.check_config:
        print("config ok")  # noqa: T201
        return 0
    setup_logging(settings.log.level, settings.log.json)
    try:
        asyncio.run(serve(settings, args.config, args.worker))
    except (OSError, StartupError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
