"""What a chunk's sends and an audience snapshot need from the fan-out that runs them.

The fan-out (services.pushes.fanout.Fanout) is one such context; chunk.py and snapshot.py depend
only on this small surface, so they never import the fan-out (no import circle) and a test can
drive them with another context.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from core.deps import Deps
from services.pushes.live import PushState, Tuning


class Tokens(Protocol):
    async def take(self) -> None:
        """Wait for one send's worth of the channel's shared rate."""


class FanoutContext(Protocol):
    deps: Deps
    tuning: Tuning
    owner: str  # who leases chunks: host + a random suffix per fan-out
    state: PushState
    clock: Callable[[], datetime]  # the business clock: quota days, the 48-hour window, record times

    @property
    def stopping(self) -> bool:
        """True once a graceful stop began: finish the current step, then give the chunk back."""

    def lease_until(self) -> datetime: ...

    def tokens(self, channel: str) -> Tokens: ...

    async def recent_interactions(self, openids: list[str]) -> dict[str, float]: ...

    def followers_left(self, openids: list[str]) -> None: ...
