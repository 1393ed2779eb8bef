"""A lean, auto-pipelining Redis connection for the hot paths (`deps.redis_pipe`).

Why not redis-py there: at thousands of requests a second its per-command cost (connection
checkout, command packing, the pure-Python RESP parser, a stream reader wake-up) was as large as
the rest of a request's work. This connection is an asyncio Protocol: commands issued during one
event-loop turn leave in one write, replies are parsed as they arrive and resolve futures in
order. An idle process still sends a lone command at once; a busy one batches for free. Users:
the /wechat dedupe round trip and every `ScriptBatcher` (sessions, ballots, sign-ups).

Scope: commands with simple replies (strings, integers, arrays, errors). Other code keeps using
`deps.redis` (redis-py). Errors look like redis-py's, so handlers treat both alike: an error reply
is a `RedisReplyError` (a `ResponseError`); a lost or silent connection fails every waiting
command with `PipeConnectionError` (redis-py's and the builtin ConnectionError), and the next
command reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from hiredis import ProtocolError, Reader, pack_command
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)


class RedisReplyError(ResponseError):
    """Redis answered an error (`-ERR ...`)."""


class PipeConnectionError(RedisConnectionError, ConnectionError):
    """The connection was lost or Redis stopped answering."""


def bulk(value: str | bytes) -> bytes:
    """One RESP bulk string: callers on the hot path pre-encode whole commands with it."""
    b = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%b\r\n" % (len(b), b)


def encode(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (hiredis's C packer; anything it does not take is sent as its str())."""
    try:
        return pack_command(args)  # type: ignore[no-any-return]
    except TypeError:
        return pack_command(tuple(a if type(a) in (str, bytes, int, float) else str(a) for a in args))  # type: ignore[no-any-return,arg-type]


def _reader() -> Reader:
    # hiredis's C parser (already redis-py's); text replies decoded, error replies as RedisReplyError.
    return Reader(encoding="utf-8", errors="replace", replyError=RedisReplyError)


class _Multi:
    """Several commands sent together, answered by one future with the list of their replies."""

    __slots__ = ("fut", "n", "replies")

    def __init__(self, fut: asyncio.Future[list[Any]], n: int) -> None:
        self.fut, self.n = fut, n
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    def __init__(self, lost: asyncio.Future[None], reply_timeout: float) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any] | _Multi] = deque()
        self.reader = _reader()
        self.lost = lost
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.since = 0.0  # when the oldest waiting command started waiting (roughly)
        self.reply_timeout = reply_timeout
        self.drop_on_readonly = False  # a Sentinel-watched master: READONLY means it was demoted
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop.call_later(self.reply_timeout / 2, self._watchdog)

    def _watchdog(self) -> None:
        """A Redis that stops answering must not hang callers: close, so they fail fast."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.waiting and self._loop.time() - self.since > self.reply_timeout:
            log.warning("Redis did not answer within %.1fs: closing the connection", self.reply_timeout)
            self.transport.abort()
            return
        self._loop.call_later(self.reply_timeout / 2, self._watchdog)

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        fut = self._loop.create_future()
        if not self.waiting:
            self.since = self._loop.time()
        self.waiting.append(fut)
        self.out.append(encode(args))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def send_many(self, data: bytes, n: int) -> asyncio.Future[list[Any]]:
        """`data`: n commands already in RESP; one future for their n replies."""
        fut: asyncio.Future[list[Any]] = self._loop.create_future()
        multi = _Multi(fut, n)
        if not self.waiting:
            self.since = self._loop.time()
        self.waiting.extend([multi] * n)
        self.out.append(data)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self.flush_scheduled = False
        data, self.out = b"".join(self.out), []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        else:
            self.connection_lost(None)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        try:
            value = reader.gets()
            while value is not False:
                fut = waiting.popleft()
                if type(fut) is _Multi:
                    fut.replies.append(value)  # errors stay in the list: the caller judges each
                    if len(fut.replies) == fut.n and not fut.fut.done():
                        fut.fut.set_result(fut.replies)
                elif not fut.done():  # type: ignore[union-attr]
                    if type(value) is RedisReplyError:
                        fut.set_exception(value)  # type: ignore[union-attr]
                    else:
                        fut.set_result(value)  # type: ignore[union-attr]
                if self.drop_on_readonly and type(value) is RedisReplyError and str(value).startswith("READONLY"):
                    self._demoted()
                value = reader.gets()
        except (ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            log.error("Redis connection out of step (%s): closing it", exc)
            if self.transport is not None:
                self.transport.abort()
            return
        self.since = self._loop.time()

    def _demoted(self) -> None:
        """After a failover this server is a replica: let the next command reconnect to the new master."""
        if self.transport is not None and not self.transport.is_closing():
            log.warning("Redis answered READONLY (the master was demoted): reconnecting through the sentinels")
            self._loop.call_soon(self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        err = PipeConnectionError(f"Redis connection lost: {exc}")
        while self.waiting:
            w = self.waiting.popleft()
            fut = w.fut if isinstance(w, _Multi) else w
            if not fut.done():
                fut.set_exception(err)
        if not self.lost.done():
            self.lost.set_result(None)


class RedisPipe:
    """One auto-pipelining connection to one Redis server (see the module's docstring).

    `resolve`, when given, names the server anew before each connection: a Sentinel-watched
    master (core/db.py) moves on failover, and a `READONLY` reply (we reached the demoted old master)
    drops the connection so the next command asks the sentinels again. core/redis_cluster_pipe.py's
    ClusterPipe is the same interface over one such pipe per cluster node.
    """

    clustered = False  # ClusterPipe: commands are routed by key; pre-encoded batches need one node

    def __init__(
        self, url: str = "", *, options: dict[str, Any] | None = None, connect_timeout: float = 2.0,
        reply_timeout: float = 2.0, ssl_context: ssl.SSLContext | None = None,
        resolve: Callable[[], Awaitable[tuple[str, int]]] | None = None,
    ) -> None:  # fmt: skip
        self._opts = dict(options) if options is not None else parse_url(url)
        self._connect_timeout = connect_timeout
        self._reply_timeout = reply_timeout
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._resolve = resolve
        if ssl_context is None and self._opts.get("connection_class") is SSLConnection:
            ssl_context = ssl.create_default_context()
        self._ssl = ssl_context

    @classmethod
    def like(cls, client: Any, **kw: Any) -> RedisPipe:
        """A pipe to the same server, database and credentials as a redis-py client."""
        pool = client.connection_pool
        return cls(options={**pool.connection_kwargs, "connection_class": pool.connection_class}, **kw)

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._proto is not None and self._proto.transport and not self._proto.transport.is_closing():
                return self._proto
            loop = asyncio.get_running_loop()
            lost: asyncio.Future[None] = loop.create_future()
            o = self._opts
            try:
                if o.get("connection_class") is UnixDomainSocketConnection:
                    coro = loop.create_unix_connection(lambda: _Protocol(lost, self._reply_timeout), o["path"])
                else:
                    host, port = o.get("host", "localhost"), int(o.get("port", 6379))
                    if self._resolve is not None:
                        host, port = await asyncio.wait_for(self._resolve(), self._connect_timeout)
                    coro = loop.create_connection(lambda: _Protocol(lost, self._reply_timeout), host, port,
                                                  ssl=self._ssl)  # fmt: skip
            except (OSError, TimeoutError, RedisConnectionError) as exc:
                raise PipeConnectionError(f"cannot find the Redis master: {exc or type(exc).__name__}") from exc
            hello: list[tuple[Any, ...]] = []
            if o.get("password"):
                hello.append(("AUTH", *((o["username"],) if o.get("username") else ()), o["password"]))
            if o.get("db"):
                hello.append(("SELECT", int(o["db"])))
            try:
                _, proto = await asyncio.wait_for(coro, self._connect_timeout)
                for args in hello:
                    await asyncio.wait_for(proto.send(args), self._connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise PipeConnectionError(f"cannot connect to Redis: {exc or type(exc).__name__}") from exc
            proto.drop_on_readonly = self._resolve is not None
            self._proto = proto
            return proto

    async def execute(self, *args: Any) -> Any:
        proto = self._proto
        if proto is None or proto.transport is None or proto.transport.is_closing():
            proto = await self._connect()
        return await proto.send(args)

    async def execute_many(self, commands: list[tuple[Any, ...]] | tuple[bytes, int]) -> list[Any]:
        """One round trip for several commands (argument tuples, or (RESP bytes, count)); replies in
        order, a failed command's as a RedisReplyError in the list."""
        proto = self._proto
        if proto is None or proto.transport is None or proto.transport.is_closing():
            proto = await self._connect()
        if isinstance(commands, tuple):
            return await proto.send_many(*commands)
        return await proto.send_many(b"".join(encode(c) for c in commands), len(commands))

    def send_nowait(self, *args: Any, encoded: bytes = b"", key: str = "") -> None:
        """Fire and forget (the reply is read and dropped): for writes nobody waits on. `encoded`:
        the command already in RESP (then `args` are ignored; `key` routes it on a cluster)."""
        proto = self._proto
        if proto is not None and proto.transport is not None and not proto.transport.is_closing():
            fut = proto.send_many(encoded, 1) if encoded else proto.send(args)
            fut.add_done_callback(_ignore)
        else:
            coro = self.execute_many((encoded, 1)) if encoded else self.execute(*args)
            asyncio.ensure_future(coro).add_done_callback(_ignore)

    async def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
            await self._proto.lost
        self._proto = None


def _ignore(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("Redis command failed: %s", fut.exception())
