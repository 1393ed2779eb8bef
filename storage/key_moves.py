"""Moving a key to its Redis Cluster name once, after an upgrade (any type, its expiry kept).

Keys renamed for the cluster layout (storage/keys.py) may still hold state written by the previous
release under the old name. RENAME cannot move a key to another slot, so a move is DUMP + RESTORE
+ DEL: three commands, each on one key, which work on a standalone server and on a cluster alike.
Several instances may move the same key at once: RESTORE refuses to overwrite (BUSYKEY), so the
first copy wins and the new name's state, once there, is never replaced by the old one.

Write-behind queues are not moved: their flushers drain the old name until it is empty.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError


async def move_key(redis: Any, old: str, new: str) -> bool:
    """Move `old` to `new` unless `new` exists; True when `old` held something (it is gone now)."""
    dumped = await redis.dump(old)
    if dumped is None:
        return False
    ttl = int(await redis.pttl(old))
    if ttl == -2:  # expired or moved by another instance between the two reads
        return False
    try:
        await redis.restore(new, max(ttl, 0), dumped)
    except ResponseError as exc:
        if "BUSYKEY" not in str(exc):
            raise
    await redis.delete(old)
    return True


async def move_keys(redis: Any, pairs: list[tuple[str, str]]) -> int:
    """`move_key` for each (old, new); how many old keys were found."""
    moved = 0
    for old, new in pairs:
        moved += await move_key(redis, old, new)
    return moved
