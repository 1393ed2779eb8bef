"""Schemathesis hooks for tests/mp/test_schemathesis.py (loaded by `st run` via SCHEMATHESIS_HOOKS).

Authentication is a real login: a one-time code minted by the fake WeChat platform, exchanged at
POST /api/mp/login. Schemathesis logs in again when a call answers 401 (the fuzzer may log itself out).
Path parameters are sometimes replaced by ids that exist, so the fuzzer reaches past the 404s.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis
from hypothesis import strategies as st

FUZZ_OPENID = "o_schemathesis"


@schemathesis.auth(refresh_interval=120)
class MiniProgramLogin:
    def get(self, case: Any, ctx: Any) -> str:
        fake, app = os.environ["ST_FAKE_URL"], os.environ["ST_APP_URL"]
        code = requests.post(f"{fake}/_fake/js_code", json={"openid": FUZZ_OPENID}, timeout=10).json()["code"]
        resp = requests.post(f"{app}/api/mp/login", json={"code": code}, timeout=10)
        resp.raise_for_status()
        return str(resp.json()["token"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _known(name: str) -> list[str]:
    return [v for v in os.environ.get(f"ST_KNOWN_{name.upper()}", "").split(",") if v]


@schemathesis.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    variants = [path_parameters]
    for name in path_parameters:
        for value in _known(name):
            variants.append({**path_parameters, name: value})
    return st.sampled_from(variants)
