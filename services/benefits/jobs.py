"""Background work of the ledger: entitlements past their date become `expired` (hourly).

Redemption already refuses an expired entitlement by its date (the guarded update's filter), so this
only makes the stored status say so for lists, exports and statements; running it on several
instances or twice changes nothing more.
"""

from __future__ import annotations

import asyncio
import logging

from core.clock import now
from core.deps import Deps
from services.benefits import store

log = logging.getLogger(__name__)
EVERY_SECONDS = 3600.0


async def expire_once(deps: Deps) -> int:
    return await store.expire_due(deps.db, now())


async def run_expiry(deps: Deps) -> None:
    while True:
        try:
            n = await expire_once(deps)
            if n:
                log.info("%d entitlements expired", n)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - MongoDB unavailable: the next round catches up
            log.exception("expiring entitlements failed")
        await asyncio.sleep(EVERY_SECONDS)


async def start(deps: Deps) -> None:
    deps.spawn(run_expiry(deps), "benefits-expiry")
