"""The hold queue of a title, across every 书屋: a copy that comes free goes to the first waiting worker
whose reach (their city, or the whole province) includes the copy's room; otherwise back to the shelf.

Each step is one guarded update: the copy from on_shelf to held (only if still on the shelf), then the
hold from waiting to held (only if still waiting). A hold cancelled in between gives the copy back
and the next in line is tried; a crash in between leaves a held copy that the expiry job frees.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.library import store

HOLD_FOR = timedelta(hours=48)


def in_reach(hold: dict[str, Any], copy: dict[str, Any]) -> bool:
    return hold.get("reach") == "province" or hold.get("city") == copy.get("city")


async def allocate(deps: Deps, copy_id: str) -> str | None:
    """Give an on-shelf copy to the first waiting worker in reach; returns their openid, or None."""
    copy = await store.copy(deps.db, copy_id)
    if copy is None or copy.get("status") != "on_shelf":
        return None
    for hold in await store.holds(deps.db, {"isbn": copy["isbn"], "status": "waiting"}):
        if not in_reach(hold, copy):
            continue
        until = now() + HOLD_FOR
        taken = await store.take_copy(
            deps.db,
            {"_id": copy_id, "status": "on_shelf"},
            {"status": "held", "holder": hold["openid"], "hold_until": until, "hold_id": hold["_id"]},
        )
        if taken is None:
            return None  # someone else took the copy meanwhile
        got = await store.update_hold(
            deps.db, {"_id": hold["_id"], "status": "waiting"},
            {"status": "held", "copy": copy_id, "room": copy["room"], "until": until},
        )  # fmt: skip
        if got is not None:
            return str(hold["openid"])
        await store.take_copy(deps.db, {"_id": copy_id, "status": "held", "hold_id": hold["_id"]},
                              {"status": "on_shelf", "holder": None, "hold_until": None, "hold_id": None})  # fmt: skip
    return None
