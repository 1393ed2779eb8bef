"""The control API under /_fake/: lets tests in other processes (and humans) drive the fake."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import tornado.web

from .state import FakeWeChat

# Settable through POST /_fake/config: name -> type
CONFIG_FIELDS: dict[str, type] = {
    "token_ttl": float, "token_grace": float, "enforce_cs_window": bool, "cs_window": float,
    "auto_consent": bool, "record_calls": bool, "append_rid": bool, "mass_monthly_limit": int,
    "stable_force_interval": float, "stable_force_per_day": int, "js_code_ttl": float,
}  # fmt: skip


class ControlError(Exception):
    pass


def _need(body: dict[str, Any], key: str) -> Any:
    if body.get(key) in (None, ""):
        raise ControlError(f"missing field {key!r}")
    return body[key]


def _inject(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.inject(
        _need(b, "path"), int(_need(b, "errcode")), int(b.get("times", 1)), float(b.get("delay", 0.0)),
        b.get("invalidate_token"),
    )  # fmt: skip
    return {"ok": True}


def _limits(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    if "lift" in b:
        s.quotas.lifted = bool(b["lift"])
    else:
        s.set_quota(_need(b, "path"), b.get("daily"), b.get("per_minute"))
    return {"ok": True, "lifted": s.quotas.lifted}


def _followers(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    if "count" in b:
        ends = s.add_numbered_followers(int(b["count"]), b.get("prefix", "o_fake_"), int(b.get("start", 0)))
        return {"ok": True, "first_last": ends, "total": s.followers.total}
    openids = _need(b, "openids")
    s.add_followers(openids, b.get("unionids"), b.get("tags", ()), qr_scene_str=b.get("qr_scene_str", ""),
                    subscribe_scene=b.get("subscribe_scene", "ADD_SCENE_SEARCH"))  # fmt: skip
    return {"ok": True, "total": s.followers.total}


def _tokens(invalidate: bool) -> Callable[[FakeWeChat, dict[str, Any]], dict[str, Any]]:
    def run(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
        appid = b.get("appid")
        n = s.invalidate_tokens(appid) if invalidate or b.get("invalidate") else s.expire_tokens(appid)
        return {"ok": True, "tokens": n}

    return run


def _config(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    for key, value in b.items():
        kind = CONFIG_FIELDS.get(key)
        if kind is None:
            raise ControlError(f"unknown config field {key!r}")
        setattr(s, key, kind(value))
    return {"ok": True, **{k: getattr(s, k) for k in CONFIG_FIELDS}}


def _qrcode(s: FakeWeChat, q: dict[str, str]) -> dict[str, Any]:
    ticket = q.get("ticket", "")
    qr = s.qr_tickets.get(ticket)
    if qr is None:
        raise ControlError("unknown ticket")
    return {"ticket": ticket, "scene": qr.scene, "scene_id": qr.scene_id, "permanent": qr.permanent,
            "expires": qr.expires, "url": qr.url, "appid": qr.appid}  # fmt: skip


def _calls(s: FakeWeChat, q: dict[str, str]) -> dict[str, Any]:
    calls = s.calls(q.get("path") or None)
    limit = int(q.get("limit", "100"))
    return {"count": len(calls), "calls": [c.as_dict() for c in calls[-limit:]] if limit > 0 else []}


GETS: dict[str, Callable[[FakeWeChat, dict[str, str]], dict[str, Any]]] = {
    "state": lambda s, q: s.summary(),
    "calls": _calls,
    "deliveries": lambda s, q: s.deliveries_summary(q.get("kind", "template")),
    "qrcode": _qrcode,
}


def _inject_http(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.inject_http_status(_need(b, "path"), int(b.get("status", 502)), int(b.get("times", 1)))
    return {"ok": True}


def _delay(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.set_delay(_need(b, "path"), float(b.get("seconds", 0)))
    return {"ok": True}


def _consent(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.grant_consent(_need(b, "openid"), _need(b, "template_id"), int(b.get("count", 1)))
    return {"ok": True}


def _touch(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.touch(_need(b, "openid"), b.get("ts"))
    return {"ok": True}


def _template(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.add_template(_need(b, "template_id"), b.get("title", ""), b.get("content", ""))
    return {"ok": True}


def _risk(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
    s.risk_ranks[str(_need(b, "openid"))] = int(_need(b, "rank"))
    return {"ok": True}


def _simple(fn: Callable[[FakeWeChat], object]) -> Callable[[FakeWeChat, dict[str, Any]], dict[str, Any]]:
    def run(s: FakeWeChat, b: dict[str, Any]) -> dict[str, Any]:
        fn(s)
        return {"ok": True}

    return run


POSTS: dict[str, Callable[[FakeWeChat, dict[str, Any]], dict[str, Any]]] = {
    "inject": _inject,
    "inject_http": _inject_http,
    "delay": _delay,
    "clear_faults": _simple(FakeWeChat.clear_faults),
    "limits": _limits,
    "reset": _simple(FakeWeChat.reset),
    "quota_reset": _simple(FakeWeChat.reset_quotas),
    "expire_tokens": _tokens(invalidate=False),
    "invalidate_tokens": _tokens(invalidate=True),
    "followers": _followers,
    "unfollow": lambda s, b: {"ok": s.unfollow(_need(b, "openid"))},
    "consent": _consent,
    "js_code": lambda s, b: {"code": s.mint_js_code(b.get("openid"), b.get("unionid"))},
    "touch": _touch,
    "templates": _template,
    "config": _config,
    "risk": _risk,
}


class ControlHandler(tornado.web.RequestHandler):
    def initialize(self, state: FakeWeChat) -> None:
        self.state = state

    def compute_etag(self) -> None:
        return None

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload, ensure_ascii=False, default=str))

    def get(self, name: str) -> None:
        fn = GETS.get(name)
        if fn is None:
            return self._answer(404, {"error": f"no control GET {name}", "gets": sorted(GETS), "posts": sorted(POSTS)})
        query = {k: v[0].decode() for k, v in self.request.query_arguments.items()}
        try:
            return self._answer(200, fn(self.state, query))
        except (ControlError, ValueError) as exc:
            return self._answer(400, {"error": str(exc)})

    def post(self, name: str) -> None:
        fn = POSTS.get(name)
        if fn is None:
            return self._answer(404, {"error": f"no control POST {name}", "gets": sorted(GETS), "posts": sorted(POSTS)})
        try:
            body = json.loads(self.request.body or b"{}")
            if not isinstance(body, dict):
                raise ControlError("body must be a JSON object")
            return self._answer(200, fn(self.state, body))
        except (ControlError, ValueError, TypeError) as exc:
            return self._answer(400, {"error": str(exc)})
