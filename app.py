"""山东工会 / 齐鲁工惠 backend: the route table (`make_app`) and the entry point (`python app.py --config PATH`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets

import scheduler
from core.config import ConfigError, Settings, load_settings
from core.deps import Deps, build_deps, close_deps
from core.embedded import EmbeddedServer, start_mongo, start_redis
from core.logs import setup_logging
from handlers import console, ops
from handlers import wechat as wechat_callback
from handlers.base import NotFoundHandler
from handlers.lean import Application, LeanRoute
from miniprogram_api import activities as mp_activities
from miniprogram_api import auth as mp_auth
from miniprogram_api import benefits as mp_benefits
from miniprogram_api import birthdays as mp_birthdays
from miniprogram_api import coupons as mp_coupons
from miniprogram_api import lotteries as mp_lotteries
from miniprogram_api import members as mp_members
from miniprogram_api import openapi as mp_openapi
from miniprogram_api import orgs as mp_orgs
from miniprogram_api import polls as mp_polls
from miniprogram_api import surveys as mp_surveys
from seed import seed_all
from services.activities import jobs as signup_workers
from services.benefits import jobs as benefits_jobs
from services.birthdays import jobs as birthday_jobs
from services.coupons import jobs as coupon_jobs
from services.editors import auth as console_auth
from services.lotteries import jobs as lottery_jobs
from services.polls import definitions as polls_service
from storage import meta
from storage.indexes import ensure_indexes
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
        *mp_orgs.routes,  # /api/mp/orgs/{code}, /children
        *mp_polls.routes,  # /api/mp/polls, /{poll_id}, /ballots, /ballots/mine
        *mp_surveys.routes,  # /api/mp/surveys, /{survey_id}, /draft, /responses
        *mp_activities.routes,  # /api/mp/activities, /{id}, /signups, /checkin; /api/mp/signups, /{id}/cancel
        *mp_lotteries.routes,  # /api/mp/lotteries, /{id}, /entries, /entries/mine, /plays, /publication
        *mp_birthdays.routes,  # /api/mp/birthday
        *mp_coupons.routes,  # /api/mp/coupons, /{batch_id}, /{batch_id}/grab
        *mp_benefits.routes,  # /api/mp/benefits, /{entitlement_id}/code
        *console.routes,  # /admin/ (editors' console pages), /api/admin/ (their JSON), /static/console/
    ]


class Server(HTTPServer):
    """Tornado's HTTP server, with Nagle's algorithm off for good on every connection.

    Tornado turns TCP_NODELAY on at the end of every response and off again after it: two
    setsockopt() calls per request (~3% of a /wechat request's CPU). Our responses leave in one
    write and streamed ones should not wait for ACKs either, so no-delay stays on.
    """

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        stream.set_nodelay(True)
        stream.set_nodelay = _keep_nodelay  # type: ignore[method-assign]
        super().handle_stream(stream, address)


def _keep_nodelay(value: bool) -> None:
    pass


def make_app(deps: Deps, **settings: Any) -> tornado.web.Application:
    rules, lean = [], {}
    for pattern, handler in route_table():
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
        **settings,
    )


# Feature start-up hooks (caches, flushers, the scheduler): each gets Deps once the app is ready.
StartHook = Callable[[Deps], Awaitable[None]]


def start_hooks() -> list[StartHook]:
    return [
        wechat_bot_setup.start,  # the official account's conversation (content cache, dedupe)
        polls_service.start,  # votes: flush pending ballots, re-sync running polls, ballot flusher
        benefits_jobs.start,  # 权益: entitlements past their date become expired (hourly)
        coupon_jobs.start,  # 抢券: drain pending grants into the ledger, then the grant flusher
        signup_workers.start,  # sign-ups: drain pending, flusher, confirmations, reminders (moving to scheduler)
        scheduler.start,  # pushes: fan-out workers (every instance) and the scheduler leader election
        console_auth.start,  # editors' console: a hint on how to create the first admin when none exists
        lottery_jobs.start,  # lotteries: instant-win write-behind, end of 公示 (moving to scheduler)
        birthday_jobs.start,  # birthdays: the daily run of the month's gifts (moving to scheduler)
        wechat_bot_setup.freeze_gc,  # keep last: parks start-up objects outside the cyclic GC (p99)
    ]


def stop_hooks() -> list[StartHook]:
    """Graceful stops, run before the clients close (background loops are cancelled after them)."""
    return [
        scheduler.stop,  # pushes: finish and record in-flight sends, hand over leadership
    ]


async def start_services(settings: Settings) -> tuple[list[EmbeddedServer], str, str]:
    """Start the embedded Redis / MongoDB-wire servers where no URL is configured."""
    embedded: list[EmbeddedServer] = []
    redis_url, mongo_url = settings.redis.url, settings.mongo.url
    try:
        if not redis_url:
            server = await start_redis(settings.data_path)
            embedded.append(server)
            redis_url = server.url
        if not mongo_url:
            server = await start_mongo(settings.data_path)
            embedded.append(server)
            mongo_url = server.url
    except Exception:
        for server in embedded:
            server.stop()
        raise
    return embedded, redis_url, mongo_url


def spawn_workers(count: int, config: Path, redis_url: str, mongo_url: str) -> list[subprocess.Popen[bytes]]:
    """Extra worker processes on the same port (SO_REUSEPORT), sharing our Redis and MongoDB."""
    env = dict(os.environ, SDGH_REDIS_URL=redis_url, SDGH_MONGO_URL=mongo_url, SDGH_DEMO_FAKE_WECHAT="false")
    from core.embedded import _die_with_parent

    cmd = [sys.executable, str(Path(__file__).resolve()), "--config", str(config), "--worker"]
    return [subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent) for _ in range(count)]


async def serve(settings: Settings, config_path: Path, is_worker: bool) -> None:
    embedded, redis_url, mongo_url = await start_services(settings)
    fake = None
    workers: list[subprocess.Popen[bytes]] = []
    deps = build_deps(settings, redis_url=redis_url, mongo_url=mongo_url)
    server: Server | None = None
    try:
        if settings.demo.fake_wechat and not is_worker:
            from tools.fake_wechat import start_fake_wechat

            fake = await start_fake_wechat(port=settings.demo.fake_wechat_port)
            log.info("demo: fake WeChat platform at %s", fake.url)
        await check_reachable(deps, redis_url, mongo_url)
        await ensure_indexes(deps.db)
        await seed_all(deps.db)
        await meta.record_boot(deps.db, VERSION)
        for hook in start_hooks():
            await hook(deps)
        app = make_app(deps)
        server = Server(app, xheaders=settings.server.xheaders, max_body_size=settings.server.max_body_bytes)
        reuse = settings.server.workers > 1
        server.add_sockets(bind_sockets(settings.server.port, settings.server.host, reuse_port=reuse))
        if not is_worker and settings.server.workers > 1:
            workers = spawn_workers(settings.server.workers - 1, config_path, redis_url, mongo_url)
        log.info(
            "serving on http://%s:%s (pid %s%s)", settings.server.host, settings.server.port, os.getpid(),
            ", worker" if is_worker else "",
        )  # fmt: skip
        await _wait_for_stop_signal()
        log.info("stopping")
    finally:
        if server is not None:
            server.stop()
            try:
                await asyncio.wait_for(server.close_all_connections(), 5)
            except TimeoutError:
                log.warning("connections still open after 5s; closing anyway")
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for stop in stop_hooks():
            await stop(deps)
        await close_deps(deps)
        if fake is not None:
            await fake.stop()
        for emb in reversed(embedded):
            emb.stop()
        log.info("stopped")


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


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


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
