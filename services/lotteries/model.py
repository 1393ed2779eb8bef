"""What an editor defines: a lottery's fields, checked once with Chinese messages.

Draw mode (申请制抽奖): entries until `entries_until`, prize tiers drawn in order, `reserves` extra
places of the same order for the 公示 period, a beacon named in advance (drand or a public value).
Instant mode (即开型): a probability per tier with its stock, a fallback prize, stock released in
`slices` equal parts over [starts_at, ends_at), one play per member (or per member and day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from core.errors import BadInput
from services.lotteries.beacon import DEFAULT_DRAND
from services.surveys.questions import parse_time

PPM = 1_000_000
MAX_TIERS = 10
MAX_PRIZES = 100_000


@dataclass(frozen=True)
class Tier:
    name: str  # 一等奖
    title: str  # what the winner receives, e.g. "智能手环"
    count: int  # draw mode: places; instant mode: stock
    value_cents: int = 0
    ppm: int = 0  # instant mode: probability in parts per million


@dataclass(frozen=True)
class BeaconSpec:
    kind: str  # drand | manual
    base_url: str = ""
    description: str = ""  # manual: which public value, e.g. "福彩3D 第2026331期开奖号码"


@dataclass(frozen=True)
class Definition:
    mode: str  # draw | instant
    title: str
    description: str
    tiers: tuple[Tier, ...]
    vendor_org: str
    prize_days: int  # prizes may be redeemed for this many days after the grant
    entries_until: datetime | None = None
    reserves: int = 0
    beacon: BeaconSpec | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    per_day: bool = False
    slices: int = 1
    fallback: Tier | None = None


def _text(data: dict[str, Any], key: str, label: str, max_len: int, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value.strip()) > max_len or (required and not value.strip()):
        raise BadInput(f"请填写{label}（不超过 {max_len} 字）", code="invalid_field")
    return value.strip()


def _int(data: dict[str, Any], key: str, label: str, lo: int, hi: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadInput(f"{label}应为 {lo} 到 {hi} 之间的整数", code="invalid_field")
    return value


def _tier(raw: Any, n: int, instant: bool) -> Tier:
    if not isinstance(raw, dict):
        raise BadInput(f"第 {n} 个奖项格式不正确", code="invalid_tiers")
    name = _text(raw, "name", f"第 {n} 个奖项的名称", 20)
    ppm = 0
    if instant:
        pct = raw.get("percent")
        if isinstance(pct, str):
            try:
                pct = float(pct)
            except ValueError:
                pct = None
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct <= 100:
            raise BadInput(f"{name}的中奖概率应为大于 0、不超过 100 的百分数", code="invalid_tiers")
        ppm = round(pct * PPM / 100)
    return Tier(
        name=name,
        title=_text(raw, "title", f"{name}的奖品", 40),
        count=_int(raw, "count", f"{name}的数量", 1, MAX_PRIZES),
        value_cents=_int(raw, "value_cents", f"{name}的面值（分）", 0, 10_000_000, 0),
        ppm=ppm,
    )


def parse(data: dict[str, Any], now: datetime, owner_org: str) -> Definition:
    mode = data.get("mode")
    if mode not in ("draw", "instant"):
        raise BadInput("请选择抽奖方式：draw（报名后开奖）或 instant（即开即中）", code="invalid_mode")
    raw_tiers = data.get("tiers")
    if not isinstance(raw_tiers, list) or not 1 <= len(raw_tiers) <= MAX_TIERS:
        raise BadInput(f"请设置 1 到 {MAX_TIERS} 个奖项", code="invalid_tiers")
    tiers = tuple(_tier(t, i, mode == "instant") for i, t in enumerate(raw_tiers, start=1))
    common: dict[str, Any] = {
        "mode": mode,
        "title": _text(data, "title", "标题", 60),
        "description": _text(data, "description", "说明", 2000, required=False),
        "tiers": tiers,
        "vendor_org": str(data.get("vendor_org") or owner_org),
        "prize_days": _int(data, "prize_days", "兑奖有效天数", 1, 366, 30),
    }
    if mode == "draw":
        until = parse_time(data.get("entries_until"), "报名截止时间")
        if until <= now:
            raise BadInput("报名截止时间应晚于现在", code="invalid_time")
        return Definition(
            **common, entries_until=until, beacon=_beacon(data.get("beacon")),
            reserves=_int(data, "reserves", "候补名额", 0, MAX_PRIZES, sum(t.count for t in tiers)),
        )  # fmt: skip
    starts = parse_time(data.get("starts_at") or now.isoformat(), "开始时间")
    ends = parse_time(data.get("ends_at"), "结束时间")
    if ends <= max(starts, now) or ends - starts > timedelta(days=366):
        raise BadInput("结束时间应晚于开始时间和现在，且活动不超过一年", code="invalid_time")
    if sum(t.ppm for t in tiers) > PPM:
        raise BadInput("各奖项中奖概率之和不能超过 100%", code="invalid_tiers")
    fallback = None
    if isinstance(data.get("fallback"), dict):
        fb = data["fallback"]
        fallback = Tier(
            name="参与奖", title=_text(fb, "title", "参与奖奖品", 40),
            count=_int(fb, "count", "参与奖数量（-1 为不限）", -1, 10_000_000),
            value_cents=_int(fb, "value_cents", "参与奖面值（分）", 0, 10_000_000, 0),
        )  # fmt: skip
    return Definition(
        **common, starts_at=starts, ends_at=ends, per_day=bool(data.get("per_day")),
        slices=_int(data, "slices", "分批投放次数", 1, 1000, 1), fallback=fallback,
    )  # fmt: skip


def _beacon(raw: Any) -> BeaconSpec:
    if not isinstance(raw, dict) or raw.get("kind") not in ("drand", "manual"):
        raise BadInput("请选择随机数信标：drand 或 manual（公开开奖号码等）", code="invalid_beacon")
    if raw["kind"] == "drand":
        url = str(raw.get("base_url") or DEFAULT_DRAND).strip()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadInput("drand 地址应为 http(s) 网址", code="invalid_beacon")
        return BeaconSpec("drand", base_url=url)
    return BeaconSpec("manual", description=_text(raw, "description", "信标说明（例如 福彩3D 某期开奖号码）", 200))
