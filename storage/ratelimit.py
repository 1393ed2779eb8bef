"""Sliding-window rate limits in Redis, decided atomically by one Lua script for several subjects at once.

The window is approximated the way Cloudflare and nginx-style limiters do: the count in the current fixed
window plus the previous window's count weighted by how much of it still overlaps. Two small keys per
subject, no per-request entries, error well under the limit's granularity. A refused request is not
counted, so a client that keeps retrying is let in as soon as its window has room again.

`LUA_CHECK` is a Lua function other scripts embed (the ballot script checks its limits in the same round
trip as the ballot itself).

Keys (Redis Cluster): a subject's windows carry the subject's own hash tag,
`mp:rl:{rl:<dimension>:<subject>}:<name>:<window number>`, so the counters of millions of users and
IPs spread over the cluster. `RateLimiter.check` therefore decides each subject in its own script
(sent together, one round trip on the pipelined connection); when one refuses, the others' counts
are taken back, so a refused request is still not counted. A script that embeds `LUA_CHECK` passes
`tag=` its aggregate's hash tag: its windows then live in that aggregate's slot
(`mp:rl:<tag>:<name>:<dimension>:<subject>:<window number>`), i.e. they count per aggregate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from core.redis_pipe import RedisPipe
from storage.batching import ScriptBatcher
from storage.keys import entity_tag

# rl_check(ki, limits, weight, ttl): for subject k (0-based), KEYS[ki + 2k] and KEYS[ki + 2k + 1] are its
# current and previous window and limits[k + 1] its limit (0: none). Returns 0 when allowed (and counts
# the request), else the 1-based number of the first subject over its limit (nothing is counted then).
LUA_CHECK = """
local function rl_check(ki, limits, weight, ttl)
  for k = 0, #limits - 1 do
    local limit = limits[k + 1]
    if limit > 0 then
      local cur = tonumber(redis.call('GET', KEYS[ki + 2 * k]) or '0')
      local prev = tonumber(redis.call('GET', KEYS[ki + 2 * k + 1]) or '0')
      if cur + math.floor(prev * weight) >= limit then return k + 1 end
    end
  end
  for k = 0, #limits - 1 do
    if limits[k + 1] > 0 then
      local key = KEYS[ki + 2 * k]
      if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ttl) end
    end
  end
  return 0
end
"""

# ARGV: n, weight, limit 1 .. limit n, ttl.
_SCRIPT = (
    LUA_CHECK
    + """
local n = tonumber(ARGV[1])
local limits = {}
for k = 1, n do limits[k] = tonumber(ARGV[2 + k]) end
return rl_check(1, limits, tonumber(ARGV[2]), tonumber(ARGV[3 + n]))
"""
)


@dataclass(frozen=True)
class Limit:
    """At most `limit` requests per `window` seconds for `subject` along `dimension` ("user", "ip"...)."""

    dimension: str
    subject: str
    limit: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    refused_by: str = ""  # the dimension that said no
    retry_after: int = 0  # seconds until the current window ends


def window_keys(
    name: str, limits: list[Limit], window: int, now: float | None = None, *, tag: str = ""
) -> tuple[list[str], float]:
    """The Redis keys (current, previous window for each limit) and the previous window's weight.

    Without `tag` each subject's keys carry the subject's hash tag (one script per subject); with it,
    every key carries `tag` (the embedding script's slot)."""
    now = time.time() if now is None else now
    number = int(now // window)
    weight = 1.0 - (now - number * window) / window
    keys: list[str] = []
    for lim in limits:
        if tag:
            base = f"mp:rl:{tag}:{name}:{lim.dimension}:{lim.subject}:"
        else:
            base = f"mp:rl:{entity_tag('rl:' + lim.dimension, lim.subject)}:{name}:"
        keys += [f"{base}{number}", f"{base}{number - 1}"]
    return keys, weight


def retry_after(window: int, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return max(1, int(window - now % window + 0.999))


class RateLimiter:
    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe
        self._script = ScriptBatcher(pipe, _SCRIPT)

    async def check(self, name: str, limits: list[Limit], window: int) -> Verdict:
        limits = [lim for lim in limits if lim.subject and lim.limit > 0]
        if not limits:
            return Verdict(True)
        now = time.time()
        keys, weight = window_keys(name, limits, window, now)
        w, ttl = f"{weight:.4f}", window * 2 + 1
        if len(limits) == 1:
            refused = [int(await self._script(keys=keys, args=[1, w, limits[0].limit, ttl]))]
        else:  # each subject in its own slot: one script each, all in the same round trip
            calls = [
                self._script(keys=keys[2 * k : 2 * k + 2], args=[1, w, lim.limit, ttl]) for k, lim in enumerate(limits)
            ]
            refused = [int(r) for r in await asyncio.gather(*calls)]
        if not any(refused):
            return Verdict(True)
        # Take back what the subjects that said yes counted: a refused request is not counted.
        await asyncio.gather(*(self._pipe.execute("DECR", keys[2 * k]) for k, r in enumerate(refused) if r == 0))
        first = next(k for k, r in enumerate(refused) if r)
        return Verdict(False, limits[first].dimension, retry_after(window, now))
