"""Counselling test helpers: counsellors with availability, bound members as sessions and as users."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.deps import Deps
from services.counselling import desk, store
from services.editors import accounts as editors
from services.editors.scope import Scope
from services.members.sessions import CurrentUser
from services.members.sessions import store as session_store
from services.members.sessions_live import SessionData
from tests.conftest import Fetch
from tests.console.conftest import client, make_editor  # noqa: F401 - console fixtures
from tests.wechat_bot.conftest import make_sim  # noqa: F401 - the bot's simulator fixture, for the crisis test

JINAN = ("370000", "370100")
QINGDAO = ("370000", "370200")
EVERY_DAY = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
PASSWORD = "Test-password-2025"


async def make_counsellor(deps: Deps, username: str, org: str = "370100", rules: Any = None) -> Scope:
    """A counsellor account (role counsellor) with availability saved through its desk."""
    doc = await editors.create(
        deps.db, None, {"username": username, "name": username, "role": "counsellor", "org": org, "password": PASSWORD}
    )
    scope = Scope(editors.from_doc(doc), org)
    await desk.save_availability(deps, scope, {"rules": EVERY_DAY if rules is None else rules, "slot_minutes": 50})
    return scope


def member(n: int | str, org_path: tuple[str, ...] = JINAN) -> CurrentUser:
    return CurrentUser(f"o_w{n}", "", member_id=f"M{n}", org=org_path[-1], org_path=org_path)


async def token_for(deps: Deps, user: CurrentUser) -> str:
    data = SessionData(user.openid, user.unionid, user.member_id, user.org, user.org_path)
    return await session_store(deps).create(data, "session-key")


async def open_slots(deps: Deps, counsellor: str, n: int) -> list[str]:
    flt = {"counsellor": counsellor, "state": "open"}
    rows = await deps.db.counselling_slots.find(flt).sort("starts_at", 1).to_list(n)
    assert len(rows) == n, f"only {len(rows)} open slots"
    return [r["_id"] for r in rows]


async def late_slots(deps: Deps, counsellor: str, n: int) -> list[str]:
    """Open slots at least a day away (so cancelling them is never late)."""
    flt = {"counsellor": counsellor, "state": "open"}
    rows = await deps.db.counselling_slots.find(flt).sort("starts_at", -1).to_list(n)
    return [r["_id"] for r in rows]


INTAKE = {"topic": "工作压力大，睡不好", "contact_kind": "phone", "contact": "13800138000", "urgent": False}


class Api:
    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        kw: dict[str, Any] = {"method": method, "headers": {"Authorization": f"Bearer {token}"}}
        if method == "POST":
            kw["body"] = json.dumps(body if body is not None else {}, ensure_ascii=False) if body is not None else b""
            kw["allow_nonstandard_methods"] = True
        resp = await self.fetch(path, **kw)
        return resp.code, json.loads(resp.body) if resp.body else None


@pytest.fixture
def api(fetch: Fetch) -> Api:
    return Api(fetch)


__all__ = ["store"]
