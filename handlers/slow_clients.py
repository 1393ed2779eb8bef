"""A deadline for a request's headers, counted from their first byte (slowloris).

Tornado has one timer for "waiting for the next request's headers": `idle_connection_timeout`. It runs
from the moment the connection is ready for a request, so it cannot tell an idle keep-alive connection
(fine for a minute: load balancers keep them) from a client dribbling a header line every few seconds
to hold a connection forever. This guard watches each header read and closes the connection when bytes
of the headers have been waiting longer than `header_timeout` without the headers being complete.
A check every fraction of the deadline, over the connections currently mid-headers, costs nothing per
request beyond a set insertion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

from tornado.ioloop import PeriodicCallback
from tornado.iostream import IOStream


class HeaderDeadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.waiting: dict[IOStream, tuple[Any, list[float]]] = {}  # stream -> (header read future, [first byte at])
        self.sweeper = PeriodicCallback(self._sweep, max(50.0, min(1000.0, timeout * 250)))
        self.closed = 0  # connections closed for slow headers (tests, metrics)

    def watch(self, stream: IOStream) -> None:
        """Wrap the stream's header reads (HTTP1Connection reads headers with read_until_regex)."""
        read = stream.read_until_regex

        def read_headers(regex: bytes, max_bytes: int | None = None) -> Any:
            future = cast("asyncio.Future[bytes]", read(regex, max_bytes=max_bytes))
            if not future.done():
                self.waiting[stream] = (future, [0.0])
                future.add_done_callback(self._forget(stream, future))
                if not self.sweeper.is_running():
                    self.sweeper.start()
            return future

        stream.read_until_regex = read_headers  # type: ignore[method-assign]

    def _forget(self, stream: IOStream, future: Any) -> Callable[[Any], None]:
        def done(_: Any) -> None:
            entry = self.waiting.get(stream)
            if entry is not None and entry[0] is future:
                del self.waiting[stream]

        return done

    def _sweep(self) -> None:
        now = time.monotonic()
        for stream, (future, first) in list(self.waiting.items()):
            if future.done() or stream.closed():
                self.waiting.pop(stream, None)
                continue
            # Bytes in the read buffer = the headers have started (an idle connection has none).
            if not getattr(stream, "_read_buffer_size", 0):
                continue
            if not first[0]:
                first[0] = now
            elif now - first[0] > self.timeout:
                self.waiting.pop(stream, None)
                self.closed += 1
                stream.close()
        if not self.waiting:
            self.sweeper.stop()

    def stop(self) -> None:
        self.sweeper.stop()
        self.waiting.clear()
