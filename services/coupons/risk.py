"""Anti-fraud: WeChat's risk rank of the worker who won a coupon.

Rank 4 (WeChat's highest) holds the grant for an editor's review. A failed or slow check is
"unknown" — the grant proceeds, marked unknown so editors can see it — and never counts as safe.
Only winners are checked (one call per granted coupon, not per grab attempt).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from core.deps import Deps
from core.wechat import WeChatError, WeChatTransportError

log = logging.getLogger(__name__)

HOLD_RANK = 4
TIMEOUT_SECONDS = 0.8  # the worker's answer must come within a second


@dataclass(frozen=True)
class Verdict:
    state: str  # g (granted, checked), h (held for review), u (unknown: the check failed)
    rank: int  # -1 when unknown
    reason: str  # for editors, in Chinese


async def check(deps: Deps, openid: str, ip: str) -> Verdict:
    try:
        rank = await asyncio.wait_for(deps.mp.user_risk_rank(openid, ip, scene=1), TIMEOUT_SECONDS)
    except (WeChatError, WeChatTransportError, TimeoutError, KeyError, ValueError) as exc:
        log.warning("getuserriskrank failed: %s", exc)
        return Verdict("u", -1, f"风险等级未知（查询失败：{type(exc).__name__}），已发放，请留意")
    if rank >= HOLD_RANK:
        return Verdict("h", rank, f"风险等级 {rank}，待审核")
    return Verdict("g", rank, f"风险等级 {rank}")
