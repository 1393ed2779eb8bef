"""Fixtures for the official account's callback: WeChat's simulator pointed at the running app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import AES_KEY, OA_APP_ID, TOKEN
from tools.fake_wechat import WeChatSimulator

ACCOUNT = "gh_sdgh_demo"
MODES = ("plain", "compat", "safe")
FORMATS = ("xml", "json")

SimFactory = Callable[..., WeChatSimulator]


@pytest.fixture
async def make_sim(app_server: str, fake_wechat: Any) -> AsyncIterator[SimFactory]:
    """make_sim(mode="safe", fmt="xml", **kw): a simulator posting to this test's /wechat."""
    sims: list[WeChatSimulator] = []

    def make(mode: str = "plain", fmt: str = "xml", **kw: Any) -> WeChatSimulator:
        kw.setdefault("fake", fake_wechat.state)
        sim = WeChatSimulator(f"{app_server}/wechat", TOKEN, OA_APP_ID, AES_KEY, mode, fmt, ACCOUNT, **kw)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.close()


@pytest.fixture
def sim(make_sim: SimFactory) -> WeChatSimulator:
    """Safe mode, XML: the production setting."""
    return make_sim("safe", "xml")
