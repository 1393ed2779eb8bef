"""A birthday policy (per org) and the dates it implies; nearest policy on a member's org path applies."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from core.clock import TZ
from core.errors import BadInput

DEFAULT_TEMPLATE = "TPL_BIRTHDAY_GIFT"


@dataclass(frozen=True)
class Policy:
    org: str
    org_path: tuple[str, ...]
    enabled: bool
    title: str  # what the member receives, e.g. "生日蛋糕券"
    value_cents: int
    budget_cents: int  # per calendar year, for every member this policy covers
    vendor_org: str
    window_days: int  # redeemable until the birthday plus this many days
    template_id: str = DEFAULT_TEMPLATE


def from_doc(doc: dict[str, Any]) -> Policy:
    return Policy(
        org=doc["_id"], org_path=tuple(doc["org_path"]), enabled=bool(doc.get("enabled")), title=doc["title"],
        value_cents=int(doc["value_cents"]), budget_cents=int(doc["budget_cents"]), vendor_org=doc["vendor_org"],
        window_days=int(doc["window_days"]), template_id=doc.get("template_id") or DEFAULT_TEMPLATE,
    )  # fmt: skip


def _int(data: dict[str, Any], key: str, label: str, lo: int, hi: int) -> int:
    value = data.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadInput(f"{label}应为 {lo} 到 {hi} 之间的整数", code="invalid_field")
    return value


def parse(data: dict[str, Any]) -> dict[str, Any]:
    """The editable fields, checked (the org and vendor org are checked against the scope by the caller)."""
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 40:
        raise BadInput("请填写礼品名称（不超过 40 字），例如 生日蛋糕券", code="invalid_field")
    enabled = data.get("enabled")
    return {
        "enabled": enabled in (True, "1", "on", "true"),
        "title": title.strip(),
        "value_cents": _int(data, "value_cents", "礼品面值（分）", 1, 10_000_000),
        "budget_cents": _int(data, "budget_cents", "年度预算（分）", 0, 100_000_000_000),
        "window_days": _int(data, "window_days", "领取有效天数", 1, 90),
        "template_id": str(data.get("template_id") or DEFAULT_TEMPLATE).strip()[:64],
    }


def birthday_in(year: int, birth_md: str) -> date:
    """February 29 counts as February 28 in a year without it."""
    month, day = int(birth_md[:2]), int(birth_md[3:])
    if month == 2 and day == 29 and not calendar.isleap(year):
        day = 28
    return date(year, month, day)


def expires_at(year: int, birth_md: str, window_days: int) -> datetime:
    last = birthday_in(year, birth_md) + timedelta(days=window_days)
    return datetime.combine(last, time(23, 59, 59), tzinfo=TZ)


def nearest(policies: dict[str, Policy], org_path: tuple[str, ...]) -> Policy | None:
    for org in reversed(org_path):
        if org in policies:
            return policies[org]
    return None
