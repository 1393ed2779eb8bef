"""Quiet outages: when Redis or MongoDB is down, say so once, not a traceback per request and per loop turn.

During an outage every background loop fails on every turn and every request fails the same way; a
Redis outage once wrote 6,494 lines in 25 s, burying the one line an operator needs. `QuietOutages`
(a logging filter installed by core.logs.setup_logging) turns the first record caused by an
unavailable database into one warning line without a traceback and drops repeats of the same message
until that message has been quiet for `QUIET_SECONDS`; so are repeated 503 access lines of one route.
Other errors (bugs) are logged as before.
`Backoff` spaces a failing loop's retries (0.5 s doubling to 5 s), so it also stops hammering.
"""

from __future__ import annotations

import logging
import time

from pymongo.errors import ConnectionFailure, OperationFailure
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ClusterError,
    MasterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Redis or MongoDB unreachable or between owners: a Sentinel or cluster failover in progress, a slot
# migrating, a replica still loading (ServerSelectionTimeoutError, AutoReconnect and NotPrimaryError, a
# MongoDB election, are ConnectionFailures; core/redis_pipe.py raises redis-py's errors too).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, ConnectionFailure, ConnectionError, TimeoutError,
    ClusterDownError, ClusterError, TryAgainError, MasterDownError, ReadOnlyError, BusyLoadingError,
    SlotNotCoveredError,
)  # fmt: skip
QUIET_SECONDS = 30.0


# A MongoDB election can also end a write with an OperationFailure that is not a ConnectionFailure: the
# write was applied, then the primary stepped down before a majority confirmed it (a writeConcernError
# PrimarySteppedDown / InterruptedDueToReplStateChange / ShutdownInProgress, labelled RetryableWriteError).
# pymongo retries it once; when no new primary appears within serverSelectionTimeoutMS it raises that
# original error. It is an outage like any other ("try again": the retry finds the write by its key).
_MONGO_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")
_MONGO_STATE_CHANGE_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})


def _mongo_transient(exc: BaseException | None) -> bool:
    if not isinstance(exc, OperationFailure):
        return False
    return exc.code in _MONGO_STATE_CHANGE_CODES or any(exc.has_error_label(x) for x in _MONGO_TRANSIENT_LABELS)


# The same states as error replies by their first word: redis-py raises the classes above for them, the
# pipelined connection (core/redis_pipe.py) one RedisReplyError for every error reply. A restarted Redis
# answers LOADING until its AOF is read back.
_REDIS_TRANSIENT_REPLIES = frozenset({"LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"})


def _redis_transient_reply(exc: BaseException | None) -> bool:
    return isinstance(exc, ResponseError) and str(exc).split(" ", 1)[0] in _REDIS_TRANSIENT_REPLIES


def is_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, UNAVAILABLE) or _mongo_transient(exc) or _redis_transient_reply(exc)


def is_storage_fault(exc: BaseException | None) -> bool:
    """Any other error Redis answered (a script's bug, CROSSSLOT): the request still gets a 503 —
    the caller did nothing wrong and nothing was half-done — but the log keeps the traceback."""
    return isinstance(exc, (RedisError, RedisClusterException)) and not is_unavailable(exc)


def _cause(record: logging.LogRecord) -> BaseException | None:
    if record.exc_info and record.exc_info[1] is not None:
        return record.exc_info[1]
    args = record.args if isinstance(record.args, tuple) else ()
    return next((a for a in args if isinstance(a, BaseException)), None)


class QuietOutages(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.last: dict[tuple[str, str], float] = {}  # (logger, message template) -> last failure seen
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "tornado.access":
            return self._access(record)
        exc = _cause(record)
        if not is_unavailable(exc):
            return True
        key = (record.name, str(record.msg))
        if self._repeated(key):
            return False
        record.msg = f"{record.getMessage()} [{type(exc).__name__}: {exc}; repeats are not logged while it lasts]"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True

    def _access(self, record: logging.LogRecord) -> bool:
        """Access lines of 503 answers: the first per route and method, then quiet while they go on
        (the request metrics still count every one)."""
        args = record.args if isinstance(record.args, tuple) else ()
        if not args or args[0] != 503:
            return True
        route = " ".join(str(a).split("?")[0].split(" (")[0] for a in args[1:3] if isinstance(a, str))
        return not self._repeated(("tornado.access", route))

    def _repeated(self, key: tuple[str, str]) -> bool:
        now = time.monotonic()
        previous = self.last.get(key)
        self.last[key] = now
        if len(self.last) > 1000:  # bounded: messages with variable text cannot grow it forever
            self.last = {k: t for k, t in self.last.items() if now - t < QUIET_SECONDS}
        if previous is not None and now - previous < QUIET_SECONDS:
            self.dropped += 1
            return True
        return False


class Backoff:
    """Delays between retries of a failing loop: 0.5, 1, 2, 4, 5, 5 ... seconds; `reset()` after a success."""

    def __init__(self, first: float = 0.5, most: float = 5.0) -> None:
        self.first, self.most = first, most
        self.delay = 0.0

    def next(self) -> float:
        self.delay = self.first if not self.delay else min(self.delay * 2, self.most)
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0
