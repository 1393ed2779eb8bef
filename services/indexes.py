"""Every collection's indexes, created idempotently at start-up (create_index is a no-op when present).

Each capability's store module owns its index list; this file only joins them, so adding a
capability means adding one line.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.activities import signups_store as activity_signups
from services.activities import store as activities
from services.benefits import store as benefits
from services.birthdays import store as birthdays
from services.competitions import store as competitions
from services.consultation import store as consultation
from services.counselling import store as counselling
from services.coupons import store as coupons
from services.editors import audit_store
from services.editors import store as editors
from services.followers import centres_store
from services.followers import store as followers
from services.learning import store as learning
from services.library import checkins_store as reading_checkins
from services.library import store as library
from services.lotteries import store as lotteries
from services.members import store as members
from services.members import users_store as mini_users
from services.menus import store as menus
from services.orgs import store as orgs
from services.polls import ballots_store
from services.polls import store as polls
from services.pushes import audiences_store as push_audiences
from services.pushes import runs_store as push_runs
from services.pushes import store as pushes
from services.qrcodes import store as qrcodes_store
from services.replies import store as replies
from services.settings import store as org_settings
from services.surveys import store as surveys
from storage import meta
from storage.indexes import IndexSetup

SETUPS: list[IndexSetup] = [
    meta.ensure_indexes,
    orgs.ensure_indexes,
    mini_users.ensure_indexes,
    members.ensure_indexes,
    followers.ensure_indexes,
    replies.ensure_indexes,
    centres_store.ensure_indexes,
    surveys.ensure_indexes,
    activities.ensure_indexes,
    activity_signups.ensure_indexes,
    polls.ensure_indexes,
    ballots_store.ensure_indexes,
    pushes.ensure_indexes,
    editors.ensure_indexes,
    audit_store.ensure_indexes,
    menus.ensure_indexes,
    qrcodes_store.ensure_indexes,
    org_settings.ensure_indexes,
    competitions.ensure_indexes,
    consultation.ensure_indexes,
    counselling.ensure_indexes,
    learning.ensure_indexes,
    library.ensure_indexes,
    reading_checkins.ensure_indexes,
    benefits.ensure_indexes,
    coupons.ensure_indexes,
    lotteries.ensure_indexes,
    birthdays.ensure_indexes,
    push_runs.ensure_indexes,
    push_audiences.ensure_indexes,
]


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    for setup in SETUPS:
        await setup(db)
