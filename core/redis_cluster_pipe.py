"""The auto-pipelining connection over a Redis Cluster: one RedisPipe per master, commands routed by key.

A command goes to the master that owns its key's hash slot (the slot map comes from CLUSTER SLOTS
and is refreshed when the cluster says a slot moved). `MOVED` — the slot lives elsewhere now — updates
the map and resends; `ASK` — the slot is migrating — sends `ASKING` + the command to the target once.
A node that cannot be reached triggers a refresh (a replica may have been promoted); a command that
never left is retried once on the new owner, one that may have run fails as a connection error
(a 503 to the caller), since EVALSHA and friends must not run twice.

Batches (`execute_many`) are split per node and their replies put back in order. Pre-encoded
batches (the /wechat de-duplication's hot path) cannot be split: callers check `clustered` and pass
argument tuples instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from typing import Any

from redis.crc import key_slot

from core.redis_pipe import PipeConnectionError, RedisPipe, RedisReplyError

log = logging.getLogger(__name__)

SLOTS = 16384
Node = tuple[str, int]
_SCRIPT_COMMANDS = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}
_KEYLESS = {
    "PING", "SCRIPT", "INFO", "TIME", "CLUSTER", "ECHO", "DBSIZE", "FLUSHALL", "FLUSHDB", "CLIENT", "CONFIG", "ASKING",
}  # fmt: skip
MAX_REDIRECTS = 5


def routing_key(args: tuple[Any, ...]) -> str | bytes | None:
    """The key that decides which node runs a command (None: any node will do)."""
    name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    name = name.upper()
    if name in _SCRIPT_COMMANDS:
        return args[3] if int(args[2]) > 0 else None
    if name in _KEYLESS or len(args) < 2:
        return None
    if name in ("XREAD", "XREADGROUP"):
        upper = [a.upper() if isinstance(a, str) else a for a in args]
        return args[upper.index("STREAMS") + 1]  # type: ignore[no-any-return]
    return args[1]  # type: ignore[no-any-return]


def slot_of(key: str | bytes) -> int:
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def _redirect(reply: Any) -> tuple[str, int, Node] | None:
    """("MOVED" | "ASK", slot, node) for a redirection error reply."""
    if type(reply) is not RedisReplyError:
        return None
    text = str(reply)
    if not (text.startswith("MOVED ") or text.startswith("ASK ")):
        return None
    kind, slot, address = text.split()[:3]
    host, _, port = address.rpartition(":")
    return kind, int(slot), (host, int(port))


class ClusterPipe(RedisPipe):
    clustered = True

    def __init__(
        self, seeds: tuple[Node, ...], *, options: dict[str, Any], ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 2.0, reply_timeout: float = 2.0,
    ) -> None:  # fmt: skip
        super().__init__(options=options, connect_timeout=connect_timeout, reply_timeout=reply_timeout,
                         ssl_context=ssl_context)  # fmt: skip
        self._seeds = tuple(seeds)
        self._slots: list[Node | None] = [None] * SLOTS
        self._pipes: dict[Node, RedisPipe] = {}
        self._refreshing: asyncio.Task[None] | None = None

    # --- nodes and the slot map ---------------------------------------------------------------
    def _pipe(self, node: Node) -> RedisPipe:
        pipe = self._pipes.get(node)
        if pipe is None:
            host, port = node
            options = {**self._opts, "host": host, "port": port, "db": 0}
            pipe = RedisPipe(options=options, connect_timeout=self._connect_timeout,
                             reply_timeout=self._reply_timeout, ssl_context=self._ssl)  # fmt: skip
            self._pipes[node] = pipe
        return pipe

    async def refresh(self) -> None:
        """Read the slot map from the first node that answers (known nodes first, then the seeds)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh())
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        candidates = list(dict.fromkeys([*self._pipes, *self._seeds]))
        random.shuffle(candidates)
        last: Exception | None = None
        for node in candidates:
            try:
                ranges = await self._pipe(node).execute("CLUSTER", "SLOTS")
            except (PipeConnectionError, RedisReplyError) as exc:
                last = exc
                continue
            table: list[Node | None] = [None] * SLOTS
            for start, end, master, *_replicas in ranges:
                host = master[0] or node[0]  # an empty host means "the address you asked"
                owner = (str(host), int(master[1]))
                for s in range(int(start), int(end) + 1):
                    table[s] = owner
            self._slots = table
            return
        raise PipeConnectionError(f"no Redis Cluster node answered CLUSTER SLOTS: {last}")

    async def _node_for(self, key: str | bytes | None) -> Node:
        if key is None:
            known = [n for n in dict.fromkeys(self._slots) if n is not None]
            if known:
                return random.choice(known)
            await self.refresh()
            return await self._node_for(None)
        slot = slot_of(key)
        node = self._slots[slot]
        if node is None:
            await self.refresh()
            node = self._slots[slot]
            if node is None:
                raise PipeConnectionError(f"slot {slot} has no master (cluster down?)")
        return node

    # --- commands ------------------------------------------------------------------------------
    async def execute(self, *args: Any) -> Any:
        return await self._run(args, await self._node_for(routing_key(args)))

    async def _run(self, args: tuple[Any, ...], node: Node) -> Any:
        for _ in range(MAX_REDIRECTS):
            try:
                return await self._pipe(node).execute(*args)
            except RedisReplyError as exc:
                redirect = _redirect(exc)
                if redirect is None:
                    raise
                kind, slot, node = redirect
                if kind == "MOVED":
                    self._slots[slot] = node
                    asyncio.ensure_future(self.refresh()).add_done_callback(_quiet)
                    continue
                replies = await self._pipe(node).execute_many([("ASKING",), args])
                if type(replies[1]) is RedisReplyError:
                    raise replies[1] from None
                return replies[1]
            except PipeConnectionError as exc:
                if not str(exc).startswith("cannot connect"):
                    self._after_node_error(exc)
                    raise  # it may have run: never twice
                # It never left: once the map is read again (a replica may have taken over), resend it.
                log.warning("Redis Cluster node %s:%d unreachable (%s): reading the slot map again", *node, exc)
                with contextlib.suppress(PipeConnectionError):
                    await self.refresh()
                node = await self._node_for(routing_key(args))
        raise PipeConnectionError(f"too many cluster redirections for {args[0]!r}")

    def _after_node_error(self, exc: Exception) -> None:
        """Read the slot map again in the background: the caller fails fast (a stalled node would make
        it wait a second reply timeout), later commands find the new owner."""
        log.warning("Redis Cluster node unreachable (%s): reading the slot map again", exc)
        asyncio.ensure_future(self.refresh()).add_done_callback(_quiet)

    async def execute_many(self, commands: list[tuple[Any, ...]] | tuple[bytes, int]) -> list[Any]:
        """Replies in order; each node's share goes in one round trip; redirected ones are resent one by one."""
        if isinstance(commands, tuple):
            raise TypeError("a pre-encoded batch cannot be routed on a Redis Cluster: pass argument tuples")
        groups: dict[Node, list[int]] = {}
        for i, args in enumerate(commands):
            groups.setdefault(await self._node_for(routing_key(args)), []).append(i)
        replies: list[Any] = [None] * len(commands)

        async def send(node: Node, indexes: list[int]) -> None:
            try:
                got = await self._pipe(node).execute_many([commands[i] for i in indexes])
            except PipeConnectionError as exc:
                self._after_node_error(exc)
                raise
            for i, reply in zip(indexes, got, strict=True):
                replies[i] = reply

        await asyncio.gather(*(send(node, idx) for node, idx in groups.items()))
        for i, reply in enumerate(replies):
            if _redirect(reply) is not None:
                try:
                    replies[i] = await self._run(commands[i], await self._node_for(routing_key(commands[i])))
                except RedisReplyError as exc:
                    replies[i] = exc
        return replies

    def send_nowait(self, *args: Any, encoded: bytes = b"", key: str = "") -> None:
        async def go() -> None:
            if encoded:
                node = await self._node_for(key or None)
                await self._pipe(node).execute_many((encoded, 1))
            else:
                await self.execute(*args)

        asyncio.ensure_future(go()).add_done_callback(_quiet)

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        await asyncio.gather(*(pipe.close() for pipe in self._pipes.values()), return_exceptions=True)
        self._pipes.clear()


def _quiet(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("Redis Cluster command failed: %s", fut.exception())
