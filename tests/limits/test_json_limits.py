"""JSON depth and size limits in the one body reader: 400 invalid_json in Chinese, never a 500."""

from __future__ import annotations

import json
import random

from tests.conftest import Fetch

LOGIN = "/api/mp/login"  # reachable without a session: the first thing an attacker tries


def nested(rng: random.Random, depth: int) -> bytes:
    """`depth` levels of arrays and objects mixed, with bracket-laden strings, sometimes cut short."""
    opens, closes = [], []
    for _ in range(depth):
        if rng.random() < 0.5:
            opens.append(b"[")
            closes.append(b"]")
        else:
            opens.append(b'{"k' + str(rng.randint(0, 9)).encode() + b'":')
            closes.append(b"}")
    core = rng.choice([b"1", b'"[[{{"', b"null", b'"\\"]]"', b"[]"])
    raw = b'{"code":' + b"".join(opens) + core + b"".join(reversed(closes)) + b"}"
    if rng.random() < 0.2:
        raw = raw[: rng.randint(1, len(raw))]  # truncated: invalid JSON, still a clean 400
    return raw


async def test_generated_nested_json_is_a_400_never_a_500(fetch: Fetch) -> None:
    rng = random.Random(17)
    depths = [1, 5, 31, 32, 33, 100, 999, 1000, 5000, 100_000] + [rng.randint(1, 3000) for _ in range(30)]
    for depth in depths:
        raw = nested(rng, depth)
        resp = await fetch(LOGIN, method="POST", body=raw, headers={"Content-Type": "application/json"})
        assert resp.code != 500, (depth, resp.body[:200])
        if depth + 1 > 32:  # the outer object is one level more
            body = json.loads(resp.body)
            assert resp.code == 400 and body["code"] == "invalid_json", (depth, body)
            assert any(word in body["message"] for word in ("嵌套", "合法", "过大"))


async def test_deep_nesting_names_the_limit(fetch: Fetch) -> None:
    resp = await fetch(LOGIN, method="POST", body=b"[" * 50_000 + b"]" * 50_000)
    assert resp.code == 400
    assert json.loads(resp.body) == {"code": "invalid_json", "message": "JSON 嵌套层数过多（最多 32 层）"}


async def test_brackets_inside_strings_do_not_count(fetch: Fetch) -> None:
    resp = await fetch(LOGIN, method="POST", body=json.dumps({"code": "[" * 500 + "{" * 500}))
    assert json.loads(resp.body)["code"] != "invalid_json"  # a string, however odd, is one level


async def test_an_oversized_json_body_is_refused_before_parsing(fetch: Fetch) -> None:
    resp = await fetch(LOGIN, method="POST", body=json.dumps({"code": "x" * 300_000}))
    assert resp.code == 400
    assert json.loads(resp.body) == {"code": "invalid_json", "message": "请求体过大（JSON 最多 256 KB）"}
