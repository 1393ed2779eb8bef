"""Public randomness for the draw: a drand round, or a value the editor named in advance.

drand (https://drand.love) publishes a value every `period` seconds since `genesis_time`:
`GET <base>/info` and `GET <base>/public/<round>` (JSON with `randomness` = SHA-256 of `signature`).
At close we name a round whose time is still in the future, so nobody — us included — knows it.
A "manual" beacon is a public value announced by a third party (e.g. a lottery's winning numbers of
a named issue); the editor names it at close and types it in once it is published.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp

from core.errors import BadInput, Conflict, Unavailable

DEFAULT_DRAND = "https://api.drand.sh"
MIN_DELAY = timedelta(seconds=30)  # the named round lies at least this far past the close
TIMEOUT = aiohttp.ClientTimeout(total=5)


@dataclass(frozen=True)
class ChainInfo:
    genesis_time: int
    period: int


@dataclass(frozen=True)
class BeaconValue:
    value: str  # the text that enters the seed
    signature: str = ""


async def _get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(url) as resp:
            if resp.status != 200:
                return resp.status, {}
            data = await resp.json(content_type=None)
            return 200, data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        raise Unavailable("随机数信标暂时无法访问，请稍后重试", code="beacon_unavailable") from None


async def chain_info(base_url: str) -> ChainInfo:
    status, data = await _get_json(f"{base_url.rstrip('/')}/info")
    genesis, period = data.get("genesis_time"), data.get("period")
    if status != 200 or not isinstance(genesis, int) or not isinstance(period, int) or period <= 0:
        raise Unavailable("随机数信标信息读取失败，请稍后重试", code="beacon_unavailable")
    return ChainInfo(genesis, period)


def round_after(info: ChainInfo, at: datetime) -> tuple[int, datetime]:
    """The first round published strictly after `at` (drand round r is published at genesis + (r-1)·period)."""
    t = at.timestamp()
    r = max(1, math.floor((t - info.genesis_time) / info.period) + 2)
    return r, datetime.fromtimestamp(info.genesis_time + (r - 1) * info.period, tz=at.tzinfo)


async def name_round(base_url: str, now: datetime, delay: timedelta = MIN_DELAY) -> tuple[int, datetime]:
    return round_after(await chain_info(base_url), now + max(delay, MIN_DELAY))


async def fetch_round(base_url: str, round_no: int) -> BeaconValue:
    """The round's randomness; Conflict while it is not published yet."""
    status, data = await _get_json(f"{base_url.rstrip('/')}/public/{round_no}")
    if status in (404, 425):
        raise Conflict(f"信标第 {round_no} 轮尚未公布，请在公布后再开奖", code="beacon_not_yet")
    randomness, signature = data.get("randomness"), data.get("signature")
    if status != 200 or data.get("round") != round_no or not isinstance(randomness, str):
        raise Unavailable("随机数信标返回的数据不正确，请稍后重试", code="beacon_unavailable")
    sig = signature if isinstance(signature, str) else ""
    if sig and hashlib.sha256(bytes.fromhex(sig)).hexdigest() != randomness.lower():
        raise Unavailable("随机数信标返回的数据未通过校验", code="beacon_invalid")
    return BeaconValue(randomness.lower(), sig)


def manual_value(text: str) -> BeaconValue:
    value = " ".join(text.split())
    if not 1 <= len(value) <= 200:
        raise BadInput("请填写公布的随机数（如开奖号码），1 到 200 个字符", code="invalid_beacon_value")
    return BeaconValue(value)
