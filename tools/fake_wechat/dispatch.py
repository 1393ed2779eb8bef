"""One API call from HTTP request to WeChat-shaped answer: routing, faults, auth, quotas, records."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from . import api_auth, api_content, api_menu, api_messages, api_users  # noqa: F401 - they register endpoints
from .errors import WeChatError, errmsg_for
from .limits import Plan
from .recording import CallRecord
from .registry import ENDPOINTS, Binary, Call
from .state import FakeWeChat, normalize_path

JSON_TYPE = "application/json; encoding=utf-8"
_HIDDEN_QUERY = ("access_token", "secret")


@dataclass
class ApiResponse:
    status: int
    body: bytes
    content_type: str
    errcode: int | None


def _error_payload(state: FakeWeChat, errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    msg = errmsg or errmsg_for(errcode)
    if state.append_rid:
        msg = f"{msg} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    return {"errcode": errcode, "errmsg": msg}


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def handle(state: FakeWeChat, method: str, raw_path: str, query: dict[str, str], raw: bytes, plan: Plan) -> ApiResponse:
    path = normalize_path(raw_path)
    now = state.now()
    call = Call(state, method, path, query, None, raw, now)
    http_status: int = 200
    try:
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            raise WeChatError(99999, f"fake wechat: no such API {path}")
        if plan.http_status is not None:
            http_status = plan.http_status
            call.appid = state.tokens.appid_of(query.get("access_token"))
            return ApiResponse(http_status, f"<html>{http_status}</html>".encode(), "text/html", None)
        if plan.errcode is not None:
            _apply_injected(state, call, plan)
            raise WeChatError(plan.errcode)
        if endpoint.method != "ANY" and method != endpoint.method:
            raise WeChatError(43002 if endpoint.method == "POST" else 43001)
        if endpoint.auth:
            token = query.get("access_token")
            if not token:
                raise WeChatError(41001)
            call.appid = state.tokens.check(token, now)
            call.take_quota(call.appid)
        if endpoint.json_body:
            call.body = _parse_body(raw)
        result = endpoint.fn(call)
    except WeChatError as exc:
        payload = _error_payload(state, exc.errcode, None if exc.errcode in (-1, 0) else exc.errmsg)
        _record(state, call, exc.errcode, 200)
        return ApiResponse(200, _json(payload), JSON_TYPE, exc.errcode)
    finally:
        if http_status != 200:
            _record(state, call, None, http_status)
    if isinstance(result, Binary):
        _record(state, call, 0, result.status)
        return ApiResponse(result.status, result.data, result.content_type, 0)
    errcode = int(result.get("errcode", 0))
    _record(state, call, errcode, 200)
    return ApiResponse(200, _json(result), JSON_TYPE, errcode)


def _apply_injected(state: FakeWeChat, call: Call, plan: Plan) -> None:
    call.appid = state.tokens.appid_of(call.query.get("access_token")) or call.query.get("appid")
    if plan.errcode not in (40001, 42001) or plan.invalidate_token is False:
        return
    # WeChat says 40001/42001 because the token really is dead: make it so, or a client that
    # "retries with the same token" would wrongly succeed against the fake.
    if plan.errcode == 40001:
        state.invalidate_tokens(call.appid)
    else:
        state.expire_tokens(call.appid)


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        raise WeChatError(44002)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WeChatError(47001) from None


def _record(state: FakeWeChat, call: Call, errcode: int | None, http_status: int) -> None:
    if not state.record_calls:  # counters only: no per-call objects during million-call benchmarks
        state.count_call(call.path, call.appid, errcode, http_status)
        return
    query = {k: v for k, v in call.query.items() if k not in _HIDDEN_QUERY}
    state.record(CallRecord(call.path, call.appid, call.method, query, call.body, errcode, call.now, http_status))
