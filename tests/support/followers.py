"""Followers written as the service would have written them: MongoDB, and the roster in Redis that push
audiences are cut from (services/followers/roster.py), as their follow events do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.deps import Deps
from services.followers import roster_live


async def store_followers(deps: Deps, docs: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(docs), 1000):
        await deps.db.followers.insert_many(list(docs[i : i + 1000]))
    live = {d["_id"]: list(d.get("org_path") or ()) for d in docs if d.get("subscribed") is not False}
    await roster_live.fill(deps.redis, live)
