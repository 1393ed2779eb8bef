"""The routing primitives behind `wechat_bot.table`: which bot handler answers which message.

A route names message types or events and a handler `(msg, ctx) -> Reply | None`. Routes are
tried in table order among those naming the message's kind, then the defaults; `None` means
"not mine, try the next one", `ACK` means "handled, reply success".

Handlers may be plain functions (answers from in-memory content: no task, no await, the fast
path) or coroutines (storage, WeChat calls). `Router.resolve` runs plain handlers inline and
returns an awaitable only when a coroutine handler is reached, so the callback can put the
5-second guard around real waiting and nothing else.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wechat_bot.message import ACK, Message, Reply

if TYPE_CHECKING:
    from wechat_bot.context import Ctx

BotHandler = Callable[[Message, "Ctx"], "Reply | None | Awaitable[Reply | None]"]
Guard = Callable[[Message, "Ctx"], bool]  # a cheap in-memory test: may this route answer at all?

MESSAGE_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link")


@dataclass(frozen=True)
class Route:
    kinds: tuple[tuple[str, str], ...]  # (MsgType, lower-case Event or "")
    handler: BotHandler
    is_async: bool
    when: Guard | None = None  # lets a coroutine handler stay off the fast path of messages it never answers

    @property
    def name(self) -> str:
        return getattr(self.handler, "__qualname__", repr(self.handler))


def _route(kinds: Iterable[tuple[str, str]], handler: BotHandler, when: Guard | None = None) -> Route:
    return Route(tuple(kinds), handler, inspect.iscoroutinefunction(handler), when)


def text(handler: BotHandler, when: Guard | None = None) -> Route:
    return _route([("text", "")], handler, when)


def message(*msg_types: str, handler: BotHandler) -> Route:
    unknown = set(msg_types) - set(MESSAGE_TYPES)
    if unknown:
        raise ValueError(f"unknown message types {sorted(unknown)}")
    return _route([(t, "") for t in msg_types], handler)


def event(*names: str, handler: BotHandler) -> Route:
    return _route([("event", n.lower()) for n in names], handler)


def default(handler: BotHandler) -> Route:
    """Answers any known kind that no earlier route answered."""
    return _route([("*", "")], handler)


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        self._defaults = [r for r in self.routes if r.kinds == (("*", ""),)]
        index: dict[tuple[str, str], list[Route]] = {}
        for r in self.routes:
            for kind in r.kinds:
                if kind[0] != "*":
                    index.setdefault(kind, []).append(r)
        self._chains = {kind: (*routes, *self._defaults) for kind, routes in index.items()}

    def knows(self, msg: Message) -> bool:
        return (msg.type, msg.event) in self._chains

    def kinds(self) -> list[tuple[str, str]]:
        return sorted(self._chains)

    def resolve(self, msg: Message, ctx: Ctx) -> Reply | Awaitable[Reply]:
        """The reply, computed inline while handlers are plain functions; else an awaitable."""
        chain = self._chains.get((msg.type, msg.event))
        if chain is None:
            return ACK  # unknown kinds: the callback logs them and answers success
        for i, route in enumerate(chain):
            if route.when is not None and not route.when(msg, ctx):
                continue
            if route.is_async:
                return self._finish(chain, i, msg, ctx)
            reply = route.handler(msg, ctx)
            if reply is not None:
                return reply  # type: ignore[return-value]
        return ACK

    async def _finish(self, chain: tuple[Route, ...], start: int, msg: Message, ctx: Ctx) -> Reply:
        for route in chain[start:]:
            if route.when is not None and not route.when(msg, ctx):
                continue
            result: Any = route.handler(msg, ctx)
            reply = await result if route.is_async else result
            if reply is not None:
                return reply  # type: ignore[no-any-return]
        return ACK
