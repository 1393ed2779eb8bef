"""Credentials: cgi-bin/token, cgi-bin/stable_token, sns/jscode2session, quota management."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from .errors import WeChatError
from .limits import china_day
from .registry import OPENID_RE, Call, api, ok
from .tokens import NORMAL, STABLE


@api("cgi-bin/token", "GET", auth=False)
def token(call: Call) -> dict[str, Any]:
    q = call.query
    appid = call.check_app(q.get("appid"), q.get("secret"))
    if q.get("grant_type") != "client_credential":
        raise WeChatError(40002)
    call.take_quota(appid)
    state = call.state
    tok = state.tokens.issue(appid, NORMAL, call.now, state.token_ttl, state.token_grace)
    return {"access_token": tok, "expires_in": int(state.token_ttl)}


@api("cgi-bin/stable_token", "POST", auth=False)
def stable_token(call: Call) -> dict[str, Any]:
    body = call.obj()
    appid = call.check_app(body.get("appid"), body.get("secret"))
    if body.get("grant_type") != "client_credential":
        raise WeChatError(40002)
    call.take_quota(appid)
    state, now = call.state, call.now
    force = body.get("force_refresh") in (True, "true", 1)
    if force:
        # At most 20 a day and 30 s apart, as documented; a forced refresh kills the old token at once.
        times = [t for t in state.stable_force[appid] if china_day(t) == china_day(now)]
        if len(times) >= state.stable_force_per_day or (times and now - times[-1] < state.stable_force_interval):
            raise WeChatError(45011)
        times.append(now)
        state.stable_force[appid] = times
        tok = state.tokens.issue(appid, STABLE, now, state.token_ttl, 0.0)
        return {"access_token": tok, "expires_in": int(state.token_ttl)}
    info = state.tokens.current_valid(appid, STABLE, now)
    early = state.stable_early_refresh if state.stable_early_refresh is not None else state.token_ttl / 24
    if info is not None and info.expires - now > early:
        current = state.tokens.current_token(appid, STABLE)
        assert current is not None
        return {"access_token": current, "expires_in": int(info.expires - now)}
    # None, dead, or in its last minutes ("the platform renews 5 minutes early"): a new one, while
    # the old one lives out its remaining lifetime.
    remaining = max(0.0, info.expires - now) if info is not None else 0.0
    tok = state.tokens.issue(appid, STABLE, now, state.token_ttl, remaining)
    return {"access_token": tok, "expires_in": int(state.token_ttl)}


@api("sns/jscode2session", "GET", auth=False)
def jscode2session(call: Call) -> dict[str, Any]:
    q = call.query
    call.check_app(q.get("appid"), q.get("secret"))
    if q.get("grant_type") != "authorization_code":
        raise WeChatError(40002)
    code = q.get("js_code") or ""
    if not code:
        raise WeChatError(41008)
    state = call.state
    unionid: str | None = None
    if code.startswith("test:"):
        parts = code.split(":")
        if len(parts) not in (2, 3) or not OPENID_RE.match(parts[1]):
            raise WeChatError(40029)
        if code in state.used_test_codes:
            raise WeChatError(40163)
        state.used_test_codes.add(code)
        openid = parts[1]
        if len(parts) == 3 and parts[2]:
            unionid = state.mp_unionids[openid] = parts[2]
    else:
        rec = state.js_codes.get(code)
        if rec is None or (not rec.used and call.now - rec.created > state.js_code_ttl):
            raise WeChatError(40029)
        if rec.used:
            raise WeChatError(40163)
        rec.used = True
        openid = rec.openid
    unionid = unionid or state.mp_unionids.get(openid)
    if unionid is None and openid in state.followers.info:
        unionid = state.followers.info[openid].unionid
    session_key = base64.b64encode(secrets.token_bytes(16)).decode()
    state.session_keys[openid] = session_key
    result = {"session_key": session_key, "openid": openid}
    if unionid:
        result["unionid"] = unionid
    return result


@api("cgi-bin/clear_quota")
def clear_quota(call: Call) -> dict[str, Any]:
    appid = call.get_str("appid", errcode=41002)
    if appid != call.appid:
        raise WeChatError(40013)
    for key in [k for k in call.state.quotas.daily if k[0] == appid]:
        del call.state.quotas.daily[key]
    return ok()


@api("cgi-bin/openapi/quota/get")
def quota_get(call: Call) -> dict[str, Any]:
    cgi_path = call.get_str("cgi_path", errcode=40097).lstrip("/")
    assert call.appid is not None
    return ok(quota=call.state.quotas.usage(call.appid, cgi_path, call.now))
