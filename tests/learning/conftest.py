"""Learning test helpers: an editor scope, a sample course, learners as the session sees them, a test clock."""

from __future__ import annotations

from typing import Any

import pytest

from core.deps import Deps
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.learning import admin
from services.members.roster import import_roster
from services.members.sessions import CurrentUser
from tests.conftest import Fetch
from tests.console.conftest import client, make_editor  # noqa: F401 - console fixtures
from tests.mp.conftest import MpClient
from tests.mp.roster_files import ROSTER, csv_bytes
from tests.wechat_bot.conftest import make_sim, sim  # noqa: F401 - the simulator fixtures, for the bot test

ZHANG_PATH = ("370000", "370100", "370102", "370102001", "370102001001")


def scope(org: str = "370000", path: tuple[str, ...] = ("370000",), role: str = "admin") -> Scope:
    return Scope(Editor("ed_" + org, "编辑" + org, role, org, path), org)


def zhang() -> CurrentUser:
    """张三, member JN0001 of an enterprise union in 济南 (the roster fixture)."""
    return CurrentUser("o_zhang", member_id="JN0001", org=ZHANG_PATH[-1], org_path=ZHANG_PATH)


def worker(openid: str, path: tuple[str, ...] = ZHANG_PATH) -> CurrentUser:
    return CurrentUser(openid, member_id=f"m-{openid}", org=path[-1], org_path=path)


QUIZ_BANK = [
    {"id": f"q{i}", "type": "single", "title": f"安全题 {i}", "answer": "a",
     "options": [{"id": "a", "label": "正确"}, {"id": "b", "label": "错误"}]}
    for i in range(1, 7)
] + [
    {"id": "m1", "type": "multiple", "title": "哪些是劳保用品？", "answer": ["a", "c"],
     "options": [{"id": "a", "label": "安全帽"}, {"id": "b", "label": "拖鞋"}, {"id": "c", "label": "手套"}]},
]  # fmt: skip


def course_def(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "安全生产月必修课",
        "description": "三个单元：视频、图文、测验",
        "credit_hours": 2.5,
        "units": [
            {"id": "v1", "kind": "video", "title": "安全帽的正确佩戴", "url": "https://v.sdgh.example/a.mp4",
             "duration_s": 120},
            {"id": "a1", "kind": "article", "title": "安全生产法要点", "body": "第一条……"},
            {"id": "z1", "kind": "quiz", "title": "课后测验", "questions": QUIZ_BANK, "draw": 5, "pass_score": 80},
        ],
    }  # fmt: skip
    data.update(over)
    return data


async def published_course(deps: Deps, org: str = "370100", **over: Any) -> str:
    doc = await admin.create(deps, scope(), {**course_def(**over), "org": org})
    await admin.set_status(deps, scope(), doc["id"], "publish")
    return str(doc["id"])


@pytest.fixture
async def roster(deps: Deps) -> None:
    assert (await import_roster(deps, "370100", csv_bytes(ROSTER), "r.csv")).ok


class Clock:
    """Milliseconds the service sees (studying.now_ms is patched to read it)."""

    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> int:
        self.ms += int(seconds * 1000)
        return self.ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from services.learning import studying

    c = Clock()
    monkeypatch.setattr(studying, "now_ms", c)
    return c


@pytest.fixture
def mp(fetch: Fetch, fake_wechat: Any) -> MpClient:
    return MpClient(fetch, fake_wechat)
