"""The /_fake/ control API, as a test in another process would use it."""

from __future__ import annotations

import json
from typing import Any

from tools.fake_wechat import FakeWeChat, FakeWeChatServer, start_fake_wechat

from .conftest import Api


async def _ctl(api: Api, name: str, body: dict[str, Any] | None = None, **query: Any) -> dict[str, Any]:
    if body is None:
        resp = await api.raw("GET", f"_fake/{name}", **query)
    else:
        resp = await api.raw("POST", f"_fake/{name}", json.dumps(body).encode())
    assert resp.code == 200, resp.body
    return json.loads(resp.body)  # type: ignore[no-any-return]


async def test_control_api_end_to_end(api: Api, state: FakeWeChat) -> None:
    await _ctl(api, "followers", {"openids": ["o_a", "o_b"]})
    assert (await _ctl(api, "followers", {"count": 1000, "prefix": "o_bulk_"}))["total"] == 1002
    await _ctl(api, "unfollow", {"openid": "o_b"})
    await _ctl(api, "consent", {"openid": "o_a", "template_id": "SUB", "count": 2})
    assert state.subscribe_consents[("o_a", "SUB")] == 2
    code = (await _ctl(api, "js_code", {"openid": "o_mp", "unionid": "u"}))["code"]
    assert state.js_codes[code].openid == "o_mp"
    await _ctl(api, "touch", {"openid": "o_a", "ts": 123.0})
    assert state.last_interaction["o_a"] == 123.0

    await _ctl(api, "inject", {"path": "cgi-bin/user/get", "errcode": 45009, "times": 1})
    assert (await api.call("cgi-bin/user/get"))["errcode"] == 45009
    await _ctl(api, "inject_http", {"path": "*", "status": 503})
    assert (await api.raw("GET", "cgi-bin/tags/get", access_token=await api.token())).code == 503

    await _ctl(api, "limits", {"path": "cgi-bin/tags/get", "daily": 0})
    assert (await api.call("cgi-bin/tags/get"))["errcode"] == 45009
    await _ctl(api, "quota_reset", {})
    assert (await api.call("cgi-bin/tags/get"))["errcode"] == 45009  # the limit itself stays
    await _ctl(api, "limits", {"lift": True})
    assert "tags" in await api.call("cgi-bin/tags/get")

    tmpl = {"touser": "o_a", "template_id": "TPL_VOTE_RESULT", "data": {"thing1": {"value": "x"}}}
    for _ in range(2):
        await api.call("cgi-bin/message/template/send", tmpl)
    deliveries = await _ctl(api, "deliveries", kind="template")
    assert deliveries == {"kind": "template", "total": 2, "distinct": 1, "duplicates": ["o_a"]}

    calls = await _ctl(api, "calls", path="cgi-bin/message/template/send", limit=1)
    assert calls["count"] == 2 and len(calls["calls"]) == 1 and calls["calls"][0]["body"]["touser"] == "o_a"
    summary = await _ctl(api, "state")
    assert summary["followers"] == 1001 and summary["deliveries"]["template"]["total"] == 2

    tok = await api.token()
    await _ctl(api, "expire_tokens", {})
    assert (await api.get("cgi-bin/tags/get", access_token=tok))["errcode"] == 42001
    await _ctl(api, "config", {"enforce_cs_window": True, "token_ttl": 60})
    assert state.enforce_cs_window is True and state.token_ttl == 60.0

    await _ctl(api, "reset", {})
    assert state.followers.total == 0 and state.delivered_count("template") == 0 and not state.quotas.lifted


async def test_control_api_errors(api: Api) -> None:
    assert (await api.raw("GET", "_fake/nope")).code == 404
    assert (await api.raw("POST", "_fake/inject", b"{}")).code == 400
    assert (await api.raw("POST", "_fake/config", b'{"bogus": 1}')).code == 400
    assert (await api.raw("GET", "_fake/qrcode", ticket="x")).code == 400


async def test_custom_accounts_and_url() -> None:
    srv: FakeWeChatServer = await start_fake_wechat(port=0, accounts={"wxother": "s3cret"})
    try:
        assert srv.url == f"http://127.0.0.1:{srv.port}" and srv.state.accounts == {"wxother": "s3cret"}
        answer = await Api(srv).fetch_token("wxother", "s3cret")
        assert answer["expires_in"] == 7200
    finally:
        await srv.stop()
