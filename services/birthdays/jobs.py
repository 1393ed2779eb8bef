"""The scheduled birthday run: once a day, under a lease, grant the current month (idempotent, so a
daily rerun also catches members who bound or were imported after the 1st) and notify new grants."""

from __future__ import annotations

import logging

from core.clock import now
from core.deps import Deps
from core.lease import Lease
from services.birthdays import live
from services.birthdays.granting import RunReport, run_month
from services.birthdays.notify import notify_many
from services.birthdays.store import unnotified

log = logging.getLogger(__name__)
LEASE_KEY = "bday:run:lease"
INTERVAL = 3600.0  # look every hour; the run itself happens once per day (`bday:run:<date>` marker)


async def run_and_notify(deps: Deps, year: int, month: int) -> RunReport:
    report = await run_month(deps, year, month)
    outcomes = await notify_many(deps, await unnotified(deps.db, year, month))
    log.info(
        "birthday run %d-%02d: %d new, %d already, %d over budget, %d not bound, notices %s",
        year, month, report.granted, report.already, len(report.over_budget), len(report.not_bound), outcomes,
    )  # fmt: skip
    return report


async def run_once(deps: Deps) -> RunReport | None:
    """Today's run if nobody did it yet (the lease keeps instances from running it side by side)."""
    at = now()
    lease = Lease(deps.redis, LEASE_KEY, ttl=INTERVAL)
    if not await lease.acquire():
        return None
    try:
        day = at.date().isoformat()
        if await live.ran_on(deps.redis, day):
            return None
        report = await run_and_notify(deps, at.year, at.month)
        await live.mark_ran(deps.redis, day)
        return report
    finally:
        await lease.release()
