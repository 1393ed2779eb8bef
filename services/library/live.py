"""The Redis side of 职工书屋: reading minutes per worker and day, capped at 240 in one script.

Key: `lib:rd:{<openid>}:<yyyymmdd>` — minutes counted today (expires after two days; MongoDB keeps the
day's total in `library_reading_days`, written with $max right after, so a lost key never lowers it).
"""

from __future__ import annotations

from core.deps import Deps
from storage.batching import ScriptBatcher

DAILY_CAP = 240

# KEYS: the day's counter. ARGV: minutes to add, cap, ttl seconds. Returns {added, total}.
ADD = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local add = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - cur)
if add <= 0 then return {0, cur} end
local total = redis.call('INCRBY', KEYS[1], add)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {add, total}
"""


def _key(openid: str, day: str) -> str:
    return f"lib:rd:{{{openid}}}:{day}"


async def add_minutes(deps: Deps, openid: str, day: str, minutes: int) -> tuple[int, int]:
    ext = deps.extras.setdefault("library", {})
    script = ext.get("add_minutes")
    if script is None:
        script = ext["add_minutes"] = ScriptBatcher(deps.redis_pipe, ADD)
    added, total = await script([_key(openid, day)], [minutes, DAILY_CAP, 2 * 86400])
    return int(added), int(total)
