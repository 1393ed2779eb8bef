"""Consultation test helpers: workers logged in through the fake WeChat platform, staff in the console."""

from __future__ import annotations

from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from tests.conftest import Fetch
from tests.console.conftest import client, make_editor  # noqa: F401 - fixtures used by this package's tests
from tests.mp.conftest import MpClient

JINAN_COUNTY = ["370000", "370100", "370102"]
JINAN_FIRM = ["370000", "370100", "370102", "370102001", "370102001001"]


class Worker:
    def __init__(self, api: MpClient, openid: str, token: str, oa_openid: str) -> None:
        self.mp, self.openid, self.token, self.oa_openid = api, openid, token, oa_openid

    async def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return await self.mp.call(method, path, body, self.token, headers)

    async def open(self, category: str = "wage", text: str = "公司已经三个月没有发工资了", **kw: Any) -> Any:
        return await self.call("POST", "/api/mp/cases", {"category": category, "text": text, **kw})


async def make_worker(
    deps: Deps,
    api: MpClient,
    name: str,
    org_path: list[str] | None = None,
    *,
    follower: bool = True,
    member: bool = True,
) -> Worker:
    """A bound member of `org_path` with a mini-program login and (optionally) following the account."""
    path = org_path or JINAN_FIRM
    unionid, oa = f"un_{name}", f"oa_{name}"
    doc = {"_id": f"mp_{name}", "unionid": unionid, "member_id": f"M{name}", "org": path[-1], "org_path": path,
           "created_at": now()}  # fmt: skip
    if not member:
        for key in ("member_id", "org", "org_path"):
            doc.pop(key)
    if follower:
        doc["follower_openid"] = oa
        api.fake.state.add_followers([oa])
        await deps.db.followers.insert_one({"_id": oa, "subscribed": True, "unionid": unionid, "org_path": path})
    await deps.db.mini_users.insert_one(doc)
    token = await api.login(f"mp_{name}", unionid)
    return Worker(api, f"mp_{name}", token, oa)


@pytest.fixture
def mp_client(fetch: Fetch, fake_wechat: Any) -> MpClient:
    return MpClient(fetch, fake_wechat)


@pytest.fixture
def worker(deps: Deps, mp_client: MpClient) -> Any:
    async def make(name: str, org_path: list[str] | None = None, follower: bool = True, member: bool = True) -> Worker:
        return await make_worker(deps, mp_client, name, org_path, follower=follower, member=member)

    return make
