"""Library test helpers: rooms in two cities, a book list as editors upload it, workers of each city."""

from __future__ import annotations

from typing import Any

import pytest

from core.deps import Deps
from services.library import rooms
from services.members.sessions import CurrentUser
from tests.conftest import Fetch
from tests.console.conftest import client, make_editor  # noqa: F401 - console fixtures
from tests.learning.conftest import scope
from tests.mp.conftest import MpClient

JINAN_PATH = ("370000", "370100", "370102")
QINGDAO_PATH = ("370000", "370200", "370202")
SANTI = "9787536692930"  # 三体 (ISBN-13, valid)
HUOZHE = "7-5063-3697-9"  # 活着 (ISBN-10, valid) -> 9787506336970
HUOZHE13 = "9787506336970"


def reader(openid: str, path: tuple[str, ...] = JINAN_PATH) -> CurrentUser:
    return CurrentUser(openid, member_id=f"m-{openid}", org=path[-1], org_path=path)


def sheet(rows: list[list[Any]]) -> bytes:
    header = "ISBN,书名,作者,出版社,册数"
    return ("\ufeff" + "\r\n".join([header, *(",".join(str(c) for c in r) for r in rows)])).encode()


async def room(deps: Deps, org: str, name: str) -> str:
    doc = await rooms.create_room(
        deps, scope(), {"org": org, "name": name, "address": f"{name}地址", "hours": "9:00-17:00"}
    )
    return str(doc["id"])


async def stocked(deps: Deps, room_id: str, rows: list[list[Any]]) -> None:
    await rooms.import_copies(deps, scope(), room_id, sheet(rows), "books.csv")


@pytest.fixture
def mp(fetch: Fetch, fake_wechat: Any) -> MpClient:
    return MpClient(fetch, fake_wechat)
