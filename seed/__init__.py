"""Seed data written at start-up where missing (never overwriting editors' changes)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def seed_all(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Every feature's seed, in one list: orgs first, since other content belongs to an org."""
    from storage import orgs

    await orgs.seed_orgs(db)
