"""Background work of the ledger: entitlements past their date become `expired` (hourly).

Redemption already refuses an expired entitlement by its date (the guarded update's filter), so this
only makes the stored status say so for lists, exports and statements; running it on several
instances or twice changes nothing more.
"""

from __future__ import annotations

import logging

from core.clock import now
from core.deps import Deps
from services.benefits import store

log = logging.getLogger(__name__)
EVERY_SECONDS = 3600.0


async def expire_once(deps: Deps) -> int:
    """Entitlements past their date become `expired` (a guarded update: any instance may run it)."""
    n = await store.expire_due(deps.db, now())
    if n:
        log.info("%d entitlements expired", n)
    return n
