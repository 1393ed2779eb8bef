"""Seed data written at start-up where missing (never overwriting editors' changes)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def seed_all(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Every feature's seed, in one list: orgs first, since other content belongs to an org."""
    from seed import bot_content as bot_content_seed
    from seed import centres as centres_seed
    from services.followers import centres_store as centres
    from services.orgs import store as orgs
    from services.replies import store as bot_content

    await orgs.seed_orgs(db)
    await bot_content.seed(db, bot_content_seed.content_docs())
    await centres.seed(db, centres_seed.centre_docs())
