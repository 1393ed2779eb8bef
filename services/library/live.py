"""The Redis side of 职工书屋: reading minutes per worker and day, capped at 240 in one script.

Key: `lib:rd:{<openid>}:<yyyymmdd>` — minutes counted today (expires after two days; MongoDB keeps the
day's total in `library_reading_days`, written with $max right after, so a lost key never lowers it).
"""

from __future__ import annotations

from core.deps import Deps, Slot
from storage.batching import ScriptBatcher

DAILY_CAP = 240

# KEYS: the day's counter, the request's idempotency key. ARGV: minutes, cap, ttl s, use idempotency (0/1).
# Returns {added, total, replayed}: a retried report (same Idempotency-Key) gets the first answer.
ADD = """
if ARGV[4] == '1' then
  local seen = redis.call('GET', KEYS[2])
  if seen then
    local a, t = string.match(seen, '(%d+):(%d+)')
    return {tonumber(a), tonumber(t), 1}
  end
end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local add = math.max(0, math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - cur))
local total = cur
if add > 0 then
  total = redis.call('INCRBY', KEYS[1], add)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
end
if ARGV[4] == '1' then redis.call('SET', KEYS[2], add .. ':' .. total, 'EX', 900) end
return {add, total, 0}
"""


ADD_MINUTES = Slot[ScriptBatcher]("library.add_minutes")


def _key(openid: str, day: str) -> str:
    return f"lib:rd:{{{openid}}}:{day}"


async def add_minutes(deps: Deps, openid: str, day: str, minutes: int, idem: str = "") -> tuple[int, int, bool]:
    script = deps.get_or_make(ADD_MINUTES, lambda: ScriptBatcher(deps.redis_pipe, ADD))
    idem_key = f"lib:rd:idem:{{{openid}}}:{idem}"
    added, total, replayed = await script(
        [_key(openid, day), idem_key], [minutes, DAILY_CAP, 2 * 86400, int(bool(idem))]
    )
    return int(added), int(total), bool(replayed)
