"""Deps: every client the service needs, built once in main() and injected everywhere else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import jinja2
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from core.config import Settings
from core.db import Mongo, connect_mongo, connect_pipe, connect_redis
from core.metrics import Metrics
from core.redis_pipe import RedisPipe
from core.wechat.apis import MiniProgramAPI, OfficialAccountAPI
from core.wechat.client import WeChatClient

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Slot(Generic[T]):
    """A typed place in Deps for one feature's per-process object (a cache, a Redis-state wrapper,
    the bot, the fan-out). Features declare `SLOT = Slot[Their]("name")` next to their type, so
    core knows no feature types and mypy still checks every read and write."""

    name: str


ROOT = Path(__file__).resolve().parent.parent
SHUTDOWN_GRACE = 5.0
TEMPLATES = ROOT / "templates"


@dataclass
class Deps:
    settings: Settings
    redis: aioredis.Redis
    # One lean auto-pipelining connection for the hot paths (dedupe, batched Lua scripts).
    redis_pipe: RedisPipe
    redis_url: str  # what both connect to (the embedded server's when redis.url is empty)
    mongo: Mongo
    db: AsyncDatabase[dict[str, Any]]
    metrics: Metrics
    jinja: jinja2.Environment
    oa: OfficialAccountAPI
    mp: MiniProgramAPI
    # Long-lived background loops (flushers, cache refreshers); cancelled on close.
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Things to close on shutdown, in reverse order of registration.
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Feature state that lives as long as the process, reached through typed `Slot`s only.
    _slots: dict[str, Any] = field(default_factory=dict)

    def get(self, slot: Slot[T]) -> T | None:
        return cast("T | None", self._slots.get(slot.name))

    def put(self, slot: Slot[T], value: T) -> T:
        self._slots[slot.name] = value
        return value

    def get_or_make(self, slot: Slot[T], make: Callable[[], T]) -> T:
        found = self._slots.get(slot.name)
        return cast(T, found) if found is not None else self.put(slot, make())

    def drop(self, slot: Slot[T]) -> None:
        self._slots.pop(slot.name, None)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


def make_jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(("html", "xml", "j2.html")),
        enable_async=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def build_deps(settings: Settings, *, redis_url: str, mongo_url: str, metrics: Metrics | None = None) -> Deps:
    """Create clients (no I/O yet: pymongo and redis-py connect lazily)."""
    metrics = metrics or Metrics()
    redis = connect_redis(redis_url)
    mongo = connect_mongo(mongo_url)
    wc, mc = settings.wechat, settings.miniprogram
    oa_client = WeChatClient(
        app_id=wc.app_id, app_secret=wc.app_secret, api_base=wc.api_base, redis=redis, metrics=metrics,
        timeout=wc.timeout_seconds, max_concurrency=wc.max_concurrency,
    )  # fmt: skip
    mp_client = WeChatClient(
        app_id=mc.app_id, app_secret=mc.app_secret, api_base=mc.api_base, redis=redis, metrics=metrics,
        timeout=wc.timeout_seconds, max_concurrency=wc.max_concurrency,
    )  # fmt: skip
    deps = Deps(
        settings=settings,
        redis=redis,
        redis_pipe=connect_pipe(redis_url),
        redis_url=redis_url,
        mongo=mongo,
        db=mongo[settings.mongo.db],
        metrics=metrics,
        jinja=make_jinja(),
        oa=OfficialAccountAPI(oa_client),
        mp=MiniProgramAPI(mp_client, mc.app_secret),
    )
    deps.closers += [redis.aclose, deps.redis_pipe.close, mongo.close, oa_client.close, mp_client.close]
    return deps


async def close_deps(deps: Deps) -> None:
    for task in list(deps.tasks):
        task.cancel()
    if deps.tasks:
        # Bounded: a client library that swallows a cancellation must not hang shutdown forever.
        _, stuck = await asyncio.wait(list(deps.tasks), timeout=SHUTDOWN_GRACE)
        for task in stuck:
            log.warning("background task %s did not stop within %.0fs; leaving it", task.get_name(), SHUTDOWN_GRACE)
    for close in reversed(deps.closers):
        try:
            await asyncio.wait_for(close(), SHUTDOWN_GRACE)  # bounded: a client waiting on a dead server
        except Exception as exc:  # noqa: BLE001 - shutting down: log and keep closing the rest
            log.warning("error while closing %s: %s", getattr(close, "__qualname__", close), exc or type(exc).__name__)
