"""An expired hold frees its slot within 5 s of its expiry (the service's own sweeper, not the test)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict
from services.counselling import booking, jobs, store
from tests.counselling.conftest import INTAKE, late_slots, make_counsellor, member


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"counselling.hold_seconds": 2}


async def test_an_expired_hold_frees_its_slot_within_5_seconds(deps: Deps, app_server: str) -> None:
    await make_counsellor(deps, "he_xl")
    slot = (await late_slots(deps, "he_xl", 1))[0]
    alice, bob = member("slow"), member("next")
    held = await booking.hold(deps, alice, slot)
    expires = (await store.get_slot(deps.db, slot))["hold_expires"]
    while (await store.get_slot(deps.db, slot))["state"] != "open":
        assert now() < expires + timedelta(seconds=5), "slot still held 5 s after its hold expired"
        await asyncio.sleep(0.1)
    for _ in range(50):  # the sweeper frees the slot first, then marks its booking
        if (await store.get_booking(deps.db, held["id"]))["status"] == "expired":
            break
        await asyncio.sleep(0.02)
    assert (await store.get_booking(deps.db, held["id"]))["status"] == "expired"
    with pytest.raises(Conflict) as late:
        await booking.confirm(deps, alice, held["id"], INTAKE)
    assert late.value.code == "hold_expired" and "5 分钟" in late.value.message
    assert (await booking.hold(deps, bob, slot))["status"] == "held"  # someone else may take it now
    assert (await booking.hold(deps, alice, (await late_slots(deps, "he_xl", 2))[1]))["status"] == "held"


async def test_a_hold_past_its_expiry_is_free_even_before_the_sweeper_runs(deps: Deps) -> None:
    """No background loop here: `hold` itself treats an expired hold as free (the guarded update compares expiry)."""
    await make_counsellor(deps, "lu_xl")
    slot = (await late_slots(deps, "lu_xl", 1))[0]
    alice, bob = member("a"), member("b")
    first = await booking.hold(deps, alice, slot)
    started = time.monotonic()
    with pytest.raises(Conflict):
        await booking.hold(deps, bob, slot)
    await asyncio.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
    second = await booking.hold(deps, bob, slot)
    assert second["id"] != first["id"]
    assert (await store.get_booking(deps.db, first["id"]))["status"] == "expired"  # taken over, and alice unblocked
    assert await store.active_booking(deps.db, (await store.get_booking(deps.db, first["id"]))["member"]) is None


async def test_the_sweeper_gives_back_a_slot_a_crashed_confirm_left_booked(deps: Deps) -> None:
    await make_counsellor(deps, "ma_xl")
    slot = (await late_slots(deps, "ma_xl", 1))[0]
    alice = member("crash")
    held = await booking.hold(deps, alice, slot)
    assert await store.book_slot(deps.db, slot, held["id"], now())  # confirm died right after this step
    await jobs.sweep(deps, now() + timedelta(seconds=70))
    assert (await store.get_slot(deps.db, slot))["state"] == "open"
    assert (await store.get_booking(deps.db, held["id"]))["status"] == "expired"
