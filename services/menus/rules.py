"""What a valid custom menu is, in WeChat's rules, said in Chinese next to the field that breaks them.

At most 3 top-level buttons of at most 16 bytes (4 Chinese characters fit, 5 do not), each either a
leaf or a group of at most 5 sub-buttons of at most 60 bytes. Leaves here are `click` (a key the
account answers, see 自动回复 > 菜单点击回复), `view` (a web page) or `miniprogram` (a page of 齐鲁工惠).
The console form has fixed slots (b1..b3, each with s1..s5); errors are keyed by those slot names.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import BadInput

BUTTON_TYPES = {"click": "点击回复", "view": "打开网页", "miniprogram": "打开小程序页面"}
TOP, SUBS = 3, 5
TOP_BYTES, SUB_BYTES = 16, 60
KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
URL_RE = re.compile(r"^https?://[^\s/]+\S*$")
PAGE_RE = re.compile(r"^[A-Za-z0-9_\-/.]+(\?[^\s]*)?$")


class InvalidMenu(BadInput):
    code = "invalid_menu"

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors.values()))
        super().__init__(first if len(errors) == 1 else f"菜单有 {len(errors)} 处需要修改：{first}")
        self.errors = errors
        self.extra = {"errors": errors}


def _slot(top: int, sub: int | None = None) -> str:
    return f"b{top}" if sub is None else f"b{top}_s{sub}"


def _where(top: int, sub: int | None = None) -> str:
    return f"第 {top} 个菜单" if sub is None else f"第 {top} 个菜单的第 {sub} 个子菜单"


def from_form(form: dict[str, str]) -> list[dict[str, Any]]:
    """The fixed slots of the form as raw buttons (empty slots dropped, positions kept for errors)."""
    out: list[dict[str, Any]] = []
    for i in range(1, TOP + 1):
        subs = []
        for j in range(1, SUBS + 1):
            s = _slot(i, j)
            if any(form.get(f"{s}_{k}", "").strip() for k in ("name", "value")):
                subs.append(
                    {
                        "_slot": (i, j),
                        "name": form.get(f"{s}_name", ""),
                        "type": form.get(f"{s}_type", ""),
                        "value": form.get(f"{s}_value", ""),
                    }
                )
        b = _slot(i)
        if subs or any(form.get(f"{b}_{k}", "").strip() for k in ("name", "value")):
            out.append(
                {
                    "_slot": (i, None),
                    "name": form.get(f"{b}_name", ""),
                    "type": form.get(f"{b}_type", ""),
                    "value": form.get(f"{b}_value", ""),
                    "sub_button": subs,
                }
            )
    return out


def _value(b: dict[str, Any]) -> str:
    kind = b.get("type", "")
    value = b.get("key") if kind == "click" else b.get("pagepath") if kind == "miniprogram" else b.get("url")
    return str(value or "")


def to_form(buttons: list[dict[str, Any]]) -> dict[str, str]:
    """Stored (WeChat-shaped) buttons back into the form's slots."""
    form: dict[str, str] = {}
    for i, b in enumerate(buttons[:TOP], 1):
        slots = [(_slot(i), b)] + [(_slot(i, j), s) for j, s in enumerate((b.get("sub_button") or [])[:SUBS], 1)]
        for slot, item in slots:
            form |= {
                f"{slot}_name": item.get("name", ""),
                f"{slot}_type": item.get("type", ""),
                f"{slot}_value": _value(item),
            }
    return form


def from_json(buttons: Any) -> list[dict[str, Any]]:
    """WeChat-shaped buttons from the JSON API into the same raw form, slots by position."""
    if not isinstance(buttons, list):
        raise InvalidMenu({"button": "菜单应为按钮列表"})
    out = []
    for i, b in enumerate(buttons, 1):
        subs = b.get("sub_button") if isinstance(b, dict) else None
        if (
            not isinstance(b, dict)
            or not isinstance(subs or [], list)
            or not all(isinstance(x, dict) for x in subs or [])
        ):
            raise InvalidMenu({_slot(i): f"{_where(i)}格式不正确"})
        raw_subs = [
            {"_slot": (i, j), "name": x.get("name", ""), "type": x.get("type", ""), "value": _value(x)}
            for j, x in enumerate(subs or [], 1)
        ]
        out.append(
            {
                "_slot": (i, None),
                "name": b.get("name", ""),
                "type": b.get("type", ""),
                "value": _value(b),
                "sub_button": raw_subs,
            }
        )
    return out


def clean(raw: list[dict[str, Any]], mp_app_id: str, fallback_url: str) -> list[dict[str, Any]]:
    """WeChat's button list, or InvalidMenu naming every slot that needs fixing."""
    errors: dict[str, str] = {}
    if not raw:
        raise InvalidMenu({"b1_name": "至少需要 1 个菜单"})
    if len(raw) > TOP:
        errors["button"] = f"一级菜单最多 {TOP} 个"
    out: list[dict[str, Any]] = []
    for b in raw[:TOP]:
        i = b["_slot"][0]
        name = str(b.get("name") or "").strip()
        if not name:
            errors[f"{_slot(i)}_name"] = f"{_where(i)}需要名称"
        elif len(name.encode()) > TOP_BYTES:
            errors[f"{_slot(i)}_name"] = f"{_where(i)}的名称太长：一级菜单最多 4 个汉字（16 字节）"
        subs = b.get("sub_button") or []
        if len(subs) > SUBS:
            errors[f"{_slot(i)}_name"] = f"{_where(i)}最多 {SUBS} 个子菜单"
        if subs:
            clean_subs = [_leaf(s, mp_app_id, fallback_url, errors) for s in subs[:SUBS]]
            out.append({"name": name, "sub_button": clean_subs})
        else:
            out.append({"name": name, **_leaf_body(b, mp_app_id, fallback_url, errors)})
    if errors:
        raise InvalidMenu(errors)
    return out


def _leaf(s: dict[str, Any], mp_app_id: str, fallback_url: str, errors: dict[str, str]) -> dict[str, Any]:
    i, j = s["_slot"]
    name = str(s.get("name") or "").strip()
    if not name:
        errors[f"{_slot(i, j)}_name"] = f"{_where(i, j)}需要名称"
    elif len(name.encode()) > SUB_BYTES:
        errors[f"{_slot(i, j)}_name"] = f"{_where(i, j)}的名称太长：最多 20 个汉字（60 字节）"
    return {"name": name, **_leaf_body(s, mp_app_id, fallback_url, errors)}


def _leaf_body(b: dict[str, Any], mp_app_id: str, fallback_url: str, errors: dict[str, str]) -> dict[str, Any]:
    i, j = b["_slot"]
    field, where = f"{_slot(i, j)}_value", _where(i, j)
    kind, value = b.get("type"), str(b.get("value") or "").strip()
    if not isinstance(kind, str) or kind not in BUTTON_TYPES:
        errors[f"{_slot(i, j)}_type"] = f"{where}请选择类型：点击回复、打开网页或打开小程序页面（或添加子菜单）"
        return {}
    if kind == "click":
        if not KEY_RE.match(value):
            errors[field] = f"{where}的 key 应为 1-128 位字母、数字、下划线或连字符，例如 MENU_VOTE"
        return {"type": "click", "key": value}
    if kind == "view":
        if not URL_RE.match(value) or len(value.encode()) > 1024:
            errors[field] = f"{where}的网址应以 http:// 或 https:// 开头（不超过 1024 字节）"
        return {"type": "view", "url": value}
    page = value.lstrip("/")
    if not PAGE_RE.match(page) or len(page) > 512:
        errors[field] = f"{where}的小程序页面路径不正确，例如 pages/votes/index"
    # Old WeChat clients that cannot open mini-programs open `url` instead.
    return {"type": "miniprogram", "appid": mp_app_id, "pagepath": page, "url": fallback_url}


WECHAT_ERRORS = {
    -1: "微信系统繁忙，请稍后重试",
    -2: "无法连接微信服务器，请稍后重试",
    40016: "一级菜单个数不正确（1 到 3 个）",
    40017: "菜单类型不正确",
    40018: "一级菜单名称太长",
    40019: "菜单 key 不正确",
    40020: "菜单网址不正确",
    40023: "子菜单个数不正确（最多 5 个）",
    40024: "子菜单类型不正确",
    40025: "子菜单名称太长",
    40026: "子菜单 key 不正确",
    40027: "子菜单网址不正确",
    40054: "子菜单网址的域名不合法",
    40055: "菜单网址的域名不合法",
    40097: "菜单参数不正确",
    65303: "还没有默认菜单：请先由省总工会发布默认菜单，再发布市级个性化菜单",
    65304: "个性化菜单的匹配规则为空",
    65301: "个性化菜单不存在",
    45157: "标签名已存在",
    45158: "标签名太长",
    45056: "标签数量已达上限（100 个），请在公众号后台清理不用的标签",
    45059: "有关注者的标签数已达上限（20 个）",
}


def wechat_message(errcode: int, errmsg: str) -> str:
    known = WECHAT_ERRORS.get(errcode)
    return f"微信平台拒绝了操作：{known}（错误码 {errcode}）" if known else f"微信平台返回错误 {errcode}：{errmsg}"
