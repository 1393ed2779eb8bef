"""Lottery test helpers: an editor's scope, roster members as the session sees them, a fake drand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.members import store as members
from services.members.sessions import CurrentUser
from tests.wechat_bot.conftest import make_sim, sim  # noqa: F401 - the official account's simulator
from tools.fake_beacon import FakeDrandServer, start_fake_drand

JINAN = ("370000", "370100")
LIXIA = ("370000", "370100", "370102")


def editor_scope(org_path: tuple[str, ...] = JINAN, role: str = "editor") -> Scope:
    editor = Editor(f"ed{org_path[-1]}", "编辑", role, org_path[-1], org_path)
    return Scope(editor, org_path[-1])


def member_user(no: str, org_path: tuple[str, ...] = LIXIA) -> CurrentUser:
    return CurrentUser(f"o-{no}", "", member_id=no, org=org_path[-1], org_path=org_path)


async def add_members(deps: Deps, nos: list[str], org_path: tuple[str, ...] = LIXIA) -> None:
    rows = [{"member_no": n, "name": "职工", "phone": "", "org": org_path[-1], "org_path": list(org_path)} for n in nos]
    await members.upsert_many(deps.db, rows)


def draw_def(drand_url: str = "", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mode": "draw",
        "title": "职工疗休养名额抽签",
        "entries_until": (now() + timedelta(hours=1)).isoformat(),
        "tiers": [
            {"name": "一等奖", "title": "疗休养名额", "count": 2},
            {"name": "二等奖", "title": "体检卡", "count": 3},
        ],
        "reserves": 2,
        "beacon": {"kind": "drand", "base_url": drand_url} if drand_url else {"kind": "manual", "description": "3D"},
    }
    data.update(over)
    return data


@pytest.fixture
def drand() -> Iterator[FakeDrandServer]:
    server = start_fake_drand()
    yield server
    server.stop()


@pytest.fixture
def mp(fetch: Any, fake_wechat: Any) -> Any:
    from tests.mp.conftest import MpClient

    return MpClient(fetch, fake_wechat)
