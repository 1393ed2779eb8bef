"""Fixtures for coupon batches: a roster under 济南 (370100) and an editor's scope there."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from services.coupons import admin
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.members.sessions import CurrentUser
from tests.conftest import Fetch
from tests.console.conftest import client, make_editor  # noqa: F401 - the console fixtures
from tests.mp.conftest import MpClient

JINAN = ("370000", "370100")
LIXIA = (*JINAN, "370102")
SHIZHONG = (*JINAN, "370103")


@pytest.fixture(autouse=True)
def patient_risk_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The risk check gives up after 0.8 s in service (the worker's answer comes within a second); on a
    loaded test machine the first call (which also fetches an access_token) can take longer, and a
    verdict of "unknown" would then hide what a test checks. Tests of "unknown" inject WeChat errors."""
    from services.coupons import risk

    monkeypatch.setattr(risk, "TIMEOUT_SECONDS", 10.0)


def scope(org: str = "370100", role: str = "editor") -> Scope:
    path = ("370000",) if org == "370000" else ("370000", org)
    return Scope(Editor("ed-" + org, "编辑", role, org, path), org)


async def add_members(deps: Deps, path: tuple[str, ...], n: int, prefix: str) -> list[CurrentUser]:
    docs = [{"_id": f"{prefix}{i:05d}", "name": f"会员{i}", "phone": "", "org": path[-1], "org_path": list(path)}
            for i in range(n)]  # fmt: skip
    if docs:
        await deps.db.members.insert_many(docs)
    return [CurrentUser(f"o{prefix}{i:05d}", "", f"{prefix}{i:05d}", path[-1], path) for i in range(n)]


def wave(start: datetime, minutes: int = 60, share: int = 1) -> dict[str, Any]:
    return {
        "opens_at": start.isoformat(),
        "closes_at": (start + timedelta(minutes=minutes)).isoformat(),
        "share": share,
    }


def spec(stock: int, waves: list[dict[str, Any]] | None = None, **over: Any) -> admin.BatchSpec:
    at = now()
    data: dict[str, Any] = {
        "title": "超市 20 元券", "value_cents": 2000, "stock": stock,
        "waves": waves or [wave(at - timedelta(minutes=1))], "expires_at": (at + timedelta(days=30)).isoformat(),
    }  # fmt: skip
    data.update(over)
    return admin.parse_spec(data)


@pytest.fixture
def mp(fetch: Fetch, fake_wechat: Any) -> MpClient:
    """The app over HTTP as the mini-program calls it (real logins through the fake WeChat platform)."""
    return MpClient(fetch, fake_wechat)
