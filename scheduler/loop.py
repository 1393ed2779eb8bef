"""The one way a background turn is repeated: on a cadence, until the task is cancelled, quietly
through outages.

redis-py and pymongo were seen swallowing a cancellation that lands mid-call (the call returns or
raises its own error), so the loop checks `cancelling()` itself after every turn and sleep instead
of relying on CancelledError alone. A failing turn is logged (one line per outage: core/outage.py
filters the repeats) and retried after a growing back-off, never faster than its cadence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.deps import Deps
from core.outage import Backoff

log = logging.getLogger(__name__)

Turn = Callable[[Deps], Awaitable[Any]]


def stopping() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def repeat(deps: Deps, name: str, turn: Turn, seconds: float) -> None:
    backoff = Backoff(first=min(seconds, 1.0), most=max(seconds, 30.0))
    while not stopping():
        wait = seconds
        try:
            await turn(deps)
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis/MongoDB/WeChat hiccup: the next turn catches up (guarded steps)
            log.exception("%s failed; retrying", name)
            wait = max(seconds, backoff.next()) if seconds < 1 else min(seconds, backoff.next())
        if stopping():
            break
        await asyncio.sleep(wait)
    raise asyncio.CancelledError
