"""Retention: a run's per-recipient details go after `pushes.retention_days`, its aggregates stay.

A push to 10 M followers writes 10 M delivery records and 10,000 chunks; kept forever they would
outgrow everything else. Once a run finished more than `retention_days` ago (config.yaml), its
delivery records, chunks and ranges are deleted; the run document keeps what reports need later:
totals (sent / failed / skipped / unknown), receipt counts, mass-batch reports, status and times,
plus `purged_at` so the console can say why the per-recipient report is gone.

Every instance runs the turn (scheduler/background.py); a run is leased to one purger at a time
and deleting is idempotent, so a purger dying half way is simply repeated.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core import clock
from core.deps import Deps
from services.pushes import deliveries_store as deliveries
from services.pushes import runs_store as runs

log = logging.getLogger(__name__)
PURGE_LEASE = timedelta(hours=1)
RUNS_PER_TURN = 20


async def purge_once(deps: Deps, *, now: datetime | None = None) -> int:
    """Delete the details of up to RUNS_PER_TURN runs past retention; returns how many runs."""
    now = now or clock.now()
    before = now - timedelta(days=deps.settings.pushes.retention_days)
    purged = 0
    while purged < RUNS_PER_TURN:
        run = await runs.claim_purge(deps.db, before, now, now + PURGE_LEASE)
        if run is None:
            break
        removed = await deliveries.delete_run(deps.db, run["_id"])
        chunks = await runs.delete_details(deps.db, run["_id"])
        await runs.mark_purged(deps.db, run["_id"], clock.now(), removed)
        log.info("push run %s: %s delivery records and %s chunks past retention deleted", run["_id"], removed, chunks)
        purged += 1
    return purged
