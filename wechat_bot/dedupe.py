"""Exactly once across processes: a message is claimed in Redis before anyone works on it.

WeChat resends a message when no answer came within 5 seconds (same MsgId, or for events the
same FromUserName + CreateTime + Event; a fresh timestamp and nonce each time). One round trip
of three plain commands (cheaper for Redis than a script, and the claim itself is one atomic
SET NX). Every key of the round trip carries the sender's partition tag `{msg.N}`
(services.followers.live.follower_tag), so on Redis Cluster it goes to one node in one write:

1. `SET msg:n:{msg.N}:<ts>:<nonce> NX EX` — a reused (timestamp, nonce) is a replay: WeChat never reuses
   one, an attacker replaying a captured request does (in plaintext mode the signature does not
   even cover the body);
2. `SET msg:d:{msg.N}:<key> P<owner> NX PX` — the claim. Taken: ours to process; the short TTL lets the
   next retry take over if this process dies. Refused: a second round trip reads the state —
   `R<reply>` answered (the retry gets the same reply) or `P...` still being processed (the
   retry waits for that answer);
3. `HGET msg:fo:{msg.N} <openid>` — the follower's org path (per-org content), saving a round trip;
4. `HSET msg:seen:{msg.N} <openid> <now>` — their last interaction (the 48-hour customer-service
   window), moved to MongoDB in batches by `services.followers.following.flush_seen`.

The answer is stored with `SET msg:d:{msg.N}:<key> R<reply> EX` without waiting. (A replay is the
captured request sent again: same sender, so the same partition's nonce keys catch it.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from core.redis_pipe import RedisPipe, RedisReplyError, bulk
from services.followers.live import follower_tag

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claim:
    state: str  # "new" (ours to process), "replied", "pending", "replay", "unguarded" (Redis away)
    reply: str = ""  # the stored reply body for "replied" ("" = success)
    org_path: tuple[str, ...] = ()  # for "new": the follower's org path, if bound


UNGUARDED = Claim("unguarded")


class Deduper:
    def __init__(
        self,
        pipe: RedisPipe,
        *,
        nonce_ttl: int = 600,
        pending_ms: int = 6000,
        reply_ttl: int = 360,
        owner: str = "",
    ) -> None:
        self._pipe = pipe
        self.nonce_ttl = nonce_ttl  # covers the whole timestamp window on both sides
        self.pending_ms = pending_ms  # longer than the 4 s guard; short enough for a retry to take over
        self.reply_ttl = reply_ttl  # WeChat's retries come within ~20 s; keep answers well beyond
        self._owner = "P" + (owner or str(time.time_ns()))
        # The claim's four commands, pre-encoded around their variable parts (the hot path).
        self._set_tail = bulk(self._owner) + b"$2\r\nNX\r\n$2\r\nPX\r\n" + bulk(str(pending_ms))
        self._nonce_tail = b"$1\r\n1\r\n$2\r\nNX\r\n$2\r\nEX\r\n" + bulk(str(nonce_ttl))
        self._hget = b"*3\r\n$4\r\nHGET\r\n"
        self._hset = b"*4\r\n$4\r\nHSET\r\n"
        self._store_tail = b"$2\r\nEX\r\n" + bulk(str(reply_ttl))

    async def claim(
        self, key: str, openid: str, timestamp: str = "", nonce: str = "", interaction: bool = False
    ) -> Claim:
        tag = follower_tag(openid)
        dkey = f"msg:d:{tag}:{key}"
        who = bulk(openid)
        parts = [
            b"*6\r\n$3\r\nSET\r\n", bulk(dkey), self._set_tail,  # the claim
            self._hget, bulk(f"msg:fo:{tag}"), who,  # the follower's org path
            *((b"*6\r\n$3\r\nSET\r\n", bulk(f"msg:n:{tag}:{timestamp}:{nonce}"), self._nonce_tail) if nonce
              else (b"*1\r\n$4\r\nPING\r\n",)),  # the replay check
        ]  # fmt: skip
        if interaction:
            parts += (self._hset, bulk(f"msg:seen:{tag}"), who, bulk(str(int(time.time()))))  # the last interaction
        try:
            if self._pipe.clustered:  # a Redis Cluster routes each command by its key: no pre-encoded batch
                replies = await self._pipe.execute_many(self._commands(dkey, openid, timestamp, nonce, interaction))
            else:
                replies = await self._pipe.execute_many((b"".join(parts), 4 if interaction else 3))
            if any(isinstance(r, RedisReplyError) for r in replies):
                raise ConnectionError(next(r for r in replies if isinstance(r, RedisReplyError)))
            if nonce and replies[2] is None:
                if replies[0] is not None:
                    self._pipe.send_nowait("DEL", dkey)  # give back a claim made by a replay
                return Claim("replay")
            if replies[0] is not None:
                org = replies[1]
                return Claim("new", org_path=tuple(org.split(",")) if org else ())
            state = await self._pipe.execute("GET", dkey)
        except (ConnectionError, OSError, TimeoutError) as exc:
            # Without Redis we cannot tell a retry from a first delivery. Answering matters more
            # than a rare duplicate: process it (at least once) and say so in the log.
            log.warning("dedupe unavailable (%s): processing a message unguarded", exc)
            return UNGUARDED
        if state is None:  # expired between our two round trips: try again
            return await self.claim(key, openid)
        if state.startswith("R"):
            return Claim("replied", reply=state[1:])
        return Claim("pending")

    def _commands(self, dkey: str, openid: str, timestamp: str, nonce: str, interaction: bool) -> list[tuple[Any, ...]]:
        """The claim's commands as argument tuples (what the pre-encoded batch holds): on a cluster they
        share the sender's slot, so the router still sends them to one node in one write."""
        tag = follower_tag(openid)
        commands: list[tuple[Any, ...]] = [
            ("SET", dkey, self._owner, "NX", "PX", self.pending_ms),
            ("HGET", f"msg:fo:{tag}", openid),
            ("SET", f"msg:n:{tag}:{timestamp}:{nonce}", 1, "NX", "EX", self.nonce_ttl) if nonce else ("PING",),
        ]
        if interaction:
            commands.append(("HSET", f"msg:seen:{tag}", openid, int(time.time())))
        return commands

    def store(self, key: str, openid: str, reply: str) -> None:
        """Remember the answer for retries ("" = success). Nobody waits: it leaves with the next batch."""
        dkey = f"msg:d:{follower_tag(openid)}:{key}"
        cmd = b"*5\r\n$3\r\nSET\r\n" + bulk(dkey) + bulk("R" + reply) + self._store_tail
        self._pipe.send_nowait(encoded=cmd, key=dkey)

    async def wait(self, key: str, openid: str, deadline: float) -> Claim:
        """A retry arrived while another delivery is being processed: wait for its answer.

        Returns "replied", or "new" if the owner vanished (its claim expired) and this delivery
        took over, or "pending" when the deadline passes first.
        """
        delay = 0.02
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Claim("pending")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.25)
            claim = await self.claim(key, openid)
            if claim.state != "pending":
                return claim
