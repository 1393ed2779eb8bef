"""Every org setting the service knows: its key, what editors read, its type, its default, and
which org levels may set it. Adding a setting is adding one line here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import BadInput

LEVEL_ORDER = ("province", "city", "county", "township", "enterprise")
BELOW_PROVINCE = frozenset(LEVEL_ORDER[1:])
CITY_AND_COUNTY = frozenset(("city", "county"))
ALL_LEVELS = frozenset(LEVEL_ORDER)


@dataclass(frozen=True)
class Module:
    """A 齐鲁工惠 module a city may switch on or off, and the mini-program page that opens it."""

    key: str
    name: str
    page: str


# The one list of the mini-program's module pages: bot links, console hints and the home use it.
MODULES: tuple[Module, ...] = (
    Module("votes", "投票", "pages/votes/index"),
    Module("surveys", "问卷", "pages/surveys/index"),
    Module("activities", "惠工活动", "pages/activities/index"),
    Module("coupons", "抢券", "pages/coupons/index"),
    Module("lottery", "抽奖", "pages/lottery/index"),
    Module("birthday", "生日礼", "pages/birthday/index"),
    Module("counselling", "心理咨询", "pages/counselling/index"),
    Module("consultation", "惠工咨询", "pages/cases/index"),
    Module("learning", "在线学习", "pages/learning/index"),
    Module("library", "职工书屋", "pages/library/index"),
    Module("competitions", "劳动竞赛", "pages/competitions/index"),
)
MODULE_PAGES = {m.key: m.page for m in MODULES}
BIND_PAGE = "pages/member/bind"


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    kind: str  # "bool", "text", "url", "color", "phone"
    default: Any
    levels: frozenset[str]  # org levels whose editors may set (and lock) it
    max_len: int = 200

    def check(self, value: Any) -> Any:
        """The value as stored, or BadInput naming the setting in Chinese."""
        return _CHECKS[self.kind](self, value)


def _bool(s: Setting, v: Any) -> bool:
    if not isinstance(v, bool):
        raise BadInput(f"“{s.label}”应为开或关", code="invalid_setting")
    return v


def _text(s: Setting, v: Any) -> str:
    if not isinstance(v, str) or len(v.strip()) > s.max_len:
        raise BadInput(f"“{s.label}”应为不超过 {s.max_len} 字的文字", code="invalid_setting")
    return v.strip()


_URL = re.compile(r"^https://[^\s<>\"']{1,500}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_PHONE = re.compile(r"^[0-9-]{3,20}$")


def _pattern(regex: re.Pattern[str], hint: str) -> Callable[[Setting, Any], str]:
    def check(s: Setting, v: Any) -> str:
        if not isinstance(v, str) or not regex.match(v.strip()):
            raise BadInput(f"“{s.label}”{hint}", code="invalid_setting")
        return v.strip()

    return check


_CHECKS: dict[str, Callable[[Setting, Any], Any]] = {
    "bool": _bool,
    "text": _text,
    "url": _pattern(_URL, "应为 https:// 开头的网址"),
    "color": _pattern(_COLOR, "应为 #RRGGBB 形式的颜色"),
    "phone": _pattern(_PHONE, "应为电话号码（数字和短横线）"),
}

SETTINGS: tuple[Setting, ...] = (
    *(Setting(f"modules.{m.key}", f"{m.name}模块", "bool", True, BELOW_PROVINCE | {"province"}) for m in MODULES),
    Setting("brand.name_suffix", "名称后缀（如“·青岛行”）", "text", "", CITY_AND_COUNTY, max_len=12),
    Setting("brand.banner_url", "首页横幅图片", "url", "", ALL_LEVELS),
    Setting("brand.primary_color", "主题色", "color", "#C8161D", frozenset(("province", "city"))),
    Setting("contact.hotline", "职工服务热线", "phone", "12351", ALL_LEVELS),
    Setting("contact.service_centre_url", "服务中心介绍页", "url", "", ALL_LEVELS),
)
BY_KEY = {s.key: s for s in SETTINGS}


def spec(key: Any) -> Setting:
    found = BY_KEY.get(key) if isinstance(key, str) else None
    if found is None:
        raise BadInput("没有这个设置项", code="unknown_setting")
    return found
