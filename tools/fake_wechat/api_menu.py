"""Custom menus: create/get/delete and conditional (personalised) menus, validated as WeChat does."""

from __future__ import annotations

import copy
from typing import Any

from .errors import WeChatError
from .registry import Call, api, ok

KEY_TYPES = {
    "click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
    "location_select",
}  # fmt: skip
BUTTON_TYPES = KEY_TYPES | {"view", "miniprogram", "media_id", "view_limited", "article_id", "article_view_limited"}
RETIRED_MATCH_KEYS = {"sex", "country", "province", "city"}  # WeChat dropped these: 65320
MATCH_KEYS = {"tag_id", "client_platform_type", "language"}


def _size(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else 0


def _check_leaf(button: dict[str, Any], sub: bool) -> None:
    # Error codes differ between top-level buttons (4001x/40020) and sub-buttons (4002x).
    e_type, e_key, e_url = (40024, 40026, 40027) if sub else (40017, 40019, 40020)
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise WeChatError(e_type)
    if kind in KEY_TYPES and not 0 < _size(button.get("key")) <= 128:
        raise WeChatError(e_key)
    if kind in ("view", "miniprogram") and not 0 < _size(button.get("url")) <= 1024:
        raise WeChatError(e_url)
    if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
        raise WeChatError(40097, "invalid args, miniprogram button needs appid and pagepath")
    if kind in ("media_id", "view_limited") and not button.get("media_id"):
        raise WeChatError(40007)
    if kind in ("article_id", "article_view_limited") and not button.get("article_id"):
        raise WeChatError(40097, "invalid args, article_id button needs article_id")


def validate_buttons(buttons: Any) -> list[dict[str, Any]]:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise WeChatError(40016)
    for button in buttons:
        if not isinstance(button, dict):
            raise WeChatError(47001)
        if not 0 < _size(button.get("name")) <= 16:
            raise WeChatError(40018)
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                raise WeChatError(40023)
            for sub in subs:
                if not isinstance(sub, dict):
                    raise WeChatError(47001)
                if sub.get("sub_button"):
                    raise WeChatError(40022)
                if not 0 < _size(sub.get("name")) <= 60:
                    raise WeChatError(40025)
                _check_leaf(sub, sub=True)
        else:
            _check_leaf(button, sub=False)
    return copy.deepcopy(buttons)


def _menus(call: Call) -> dict[str, Any]:
    assert call.appid is not None
    return call.state.menus.setdefault(call.appid, {"button": None, "menuid": None, "conditional": []})


@api("cgi-bin/menu/create")
def menu_create(call: Call) -> dict[str, Any]:
    buttons = validate_buttons(call.obj().get("button"))
    menus = _menus(call)
    menus["button"], menus["menuid"] = buttons, call.state.next_id()
    return ok()


@api("cgi-bin/menu/get", "GET")
def menu_get(call: Call) -> dict[str, Any]:
    menus = _menus(call)
    if menus["button"] is None:
        raise WeChatError(46003)
    answer: dict[str, Any] = {"menu": {"button": copy.deepcopy(menus["button"])}}
    if menus["conditional"]:
        # As WeChat: menuid and conditionalmenu appear only once personalised menus exist.
        answer["menu"]["menuid"] = menus["menuid"]
        answer["conditionalmenu"] = copy.deepcopy(menus["conditional"])
    return answer


@api("cgi-bin/menu/delete", "GET")
def menu_delete(call: Call) -> dict[str, Any]:
    menus = _menus(call)
    menus["button"], menus["menuid"], menus["conditional"] = None, None, []
    return ok()


@api("cgi-bin/menu/addconditional")
def menu_addconditional(call: Call) -> dict[str, Any]:
    rule = call.obj().get("matchrule")
    if not isinstance(rule, dict) or not any(v not in (None, "") for v in rule.values()):
        raise WeChatError(65304)
    if any(rule.get(k) not in (None, "") for k in RETIRED_MATCH_KEYS):
        raise WeChatError(65320)
    unknown = set(rule) - MATCH_KEYS - RETIRED_MATCH_KEYS
    if unknown:
        raise WeChatError(40097, f"invalid args, unknown matchrule field {sorted(unknown)[0]}")
    buttons = validate_buttons(call.obj().get("button"))
    menus = _menus(call)
    if menus["button"] is None:
        raise WeChatError(65303)
    menuid = call.state.next_id()
    menus["conditional"].append({"button": buttons, "matchrule": dict(rule), "menuid": menuid})
    return {"menuid": str(menuid)}


@api("cgi-bin/menu/delconditional")
def menu_delconditional(call: Call) -> dict[str, Any]:
    menuid = str(call.obj().get("menuid", ""))
    menus = _menus(call)
    kept = [m for m in menus["conditional"] if str(m["menuid"]) != menuid]
    if len(kept) == len(menus["conditional"]):
        raise WeChatError(65301)
    menus["conditional"] = kept
    return ok()
