"""Every collection's indexes, created idempotently at start-up (create_index is a no-op when present).

Each storage module owns its index list; this file only joins them, so adding a module means adding one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

IndexSetup = Callable[[AsyncDatabase[dict[str, Any]]], Awaitable[None]]


async def ensure_index(
    collection: AsyncCollection[dict[str, Any]], keys: list[tuple[str, Any]], **options: Any
) -> None:
    """create_index, but a no-op when an index on the same keys exists.

    Some servers (SecantusDB for 2dsphere) report an existing index as conflicting with an
    identical request, which would stop every restart; comparing keys ourselves avoids that.
    """
    wanted = [(k, v) for k, v in keys]
    for info in (await collection.index_information()).values():
        if [(k, v) for k, v in info["key"]] == wanted:
            return
    await collection.create_index(keys, **options)


def _setups() -> list[IndexSetup]:
    from services.activities import signups_store as mp_signups
    from services.activities import store as mp_activities
    from services.benefits import store as benefits_store
    from services.birthdays import store as birthdays_store
    from services.coupons import store as coupons_store
    from services.editors import audit_store as audit
    from services.editors import store as editors
    from services.followers import centres_store as centres
    from services.followers import store as followers
    from services.lotteries import store as lotteries_store
    from services.members import store as members
    from services.members import users_store as mini_users
    from services.menus import store as console_menus
    from services.orgs import store as orgs
    from services.polls import ballots_store as mp_ballots
    from services.polls import store as mp_polls
    from services.pushes import runs_store as push_runs
    from services.pushes import store as pushes
    from services.qrcodes import store as console_qrcodes
    from services.replies import store as bot_content
    from services.surveys import store as mp_surveys
    from storage import meta

    return [
        meta.ensure_indexes,
        orgs.ensure_indexes,
        mini_users.ensure_indexes,
        members.ensure_indexes,
        followers.ensure_indexes,
        bot_content.ensure_indexes,
        centres.ensure_indexes,
        mp_surveys.ensure_indexes,
        mp_activities.ensure_indexes,
        mp_signups.ensure_indexes,
        mp_polls.ensure_indexes,
        mp_ballots.ensure_indexes,
        pushes.ensure_indexes,
        editors.ensure_indexes,
        audit.ensure_indexes,
        console_menus.ensure_indexes,
        console_qrcodes.ensure_indexes,
        push_runs.ensure_indexes,
        benefits_store.ensure_indexes,
        lotteries_store.ensure_indexes,
        birthdays_store.ensure_indexes,
        coupons_store.ensure_indexes,
    ]


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    for setup in _setups():
        await setup(db)
