"""Every collection's indexes, created idempotently at start-up (create_index is a no-op when present).

Each storage module owns its index list; this file only joins them, so adding a module means adding one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

IndexSetup = Callable[[AsyncDatabase[dict[str, Any]]], Awaitable[None]]


def _setups() -> list[IndexSetup]:
    from storage import activities as mp_activities
    from storage import ballots as mp_ballots
    from storage import members, meta, mini_users, orgs
    from storage import polls as mp_polls
    from storage import signups as mp_signups
    from storage import surveys as mp_surveys

    return [
        meta.ensure_indexes,
        orgs.ensure_indexes,
        mini_users.ensure_indexes,
        members.ensure_indexes,
        mp_surveys.ensure_indexes,
        mp_activities.ensure_indexes,
        mp_signups.ensure_indexes,
        mp_polls.ensure_indexes,
        mp_ballots.ensure_indexes,
    ]


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    for setup in _setups():
        await setup(db)
