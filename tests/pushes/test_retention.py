"""Retention: per-recipient details of old runs go after `pushes.retention_days`; totals stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core import clock
from core.config import ConfigError, parse_settings
from core.deps import Deps
from services.pushes import progress as push_progress
from services.pushes import retention
from services.pushes.fanout import Fanout
from tests.pushes.conftest import PROVINCE, TEMPLATE, ids, records, seed_followers, send_now, wait_run


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"pushes.retention_days": 30}


async def test_old_runs_lose_their_rows_and_keep_their_totals(deps: Deps, fake_wechat: Any, fan: Fanout) -> None:
    await seed_followers(deps, fake_wechat, ids("oKeep", 50))
    old_push = await send_now(deps, TEMPLATE)
    await wait_run(deps, old_push)
    new_push = await send_now(deps, TEMPLATE)
    await wait_run(deps, new_push)
    old = await deps.db.push_runs.find_one({"push": old_push})
    await deps.db.push_runs.update_one({"_id": old["_id"]}, {"$set": {"receipts": {"delivered": 48, "blocked": 2}}})
    # 29 days later nothing goes; 31 days after the first run ended, its details go
    assert await retention.purge_once(deps, now=clock.now() + timedelta(days=29)) == 0
    await deps.db.push_runs.update_one({"_id": old["_id"]}, {"$set": {"finished_at": clock.now() - timedelta(days=31)}})
    assert await retention.purge_once(deps) == 1
    assert await retention.purge_once(deps) == 0  # once

    assert await records(deps, old_push) == {}
    assert await deps.db.push_chunks.count_documents({"run": old["_id"]}) == 0
    assert await deps.db.push_ranges.count_documents({"run": old["_id"]}) == 0
    kept = await deps.db.push_runs.find_one({"_id": old["_id"]})
    assert kept["totals"] == {"sent": 50, "failed": 0, "skipped": 0, "unknown": 0}
    assert kept["receipts"] == {"delivered": 48, "blocked": 2} and kept["purged_deliveries"] == 50
    listed = await push_progress.list_runs(deps, old_push, editor_org=PROVINCE)
    assert listed[0]["totals"]["sent"] == 50  # what the console shows of an old run stays
    assert len(await records(deps, new_push)) == 50  # the recent run is untouched
    assert await deps.db.push_chunks.count_documents({"run": {"$ne": old["_id"]}}) > 0


def test_retention_days_is_a_checked_setting() -> None:
    base = {"server": {"cookie_secret": "s"}, "wechat": {"app_id": "wx1", "app_secret": "x", "token": "t"},
            "miniprogram": {"app_id": "wx2", "app_secret": "y"}}  # fmt: skip
    assert parse_settings(base, env={}).pushes.retention_days == 180
    assert parse_settings(base, env={"SDGH_PUSHES_RETENTION_DAYS": "90"}).pushes.retention_days == 90
    with pytest.raises(ConfigError, match="pushes.retention_days"):
        parse_settings({**base, "pushes": {"retention_days": 0}}, env={})
