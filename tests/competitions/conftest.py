"""Fixtures: the console's logged-in clients and the mini-program client, as their own suites define them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Fetch
from tests.console.conftest import client, make_editor  # noqa: F401  (fixtures)
from tests.mp.conftest import MpClient


@pytest.fixture
def mp(fetch: Fetch, fake_wechat: Any) -> MpClient:
    return MpClient(fetch, fake_wechat)
