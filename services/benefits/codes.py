"""The worker's rotating redemption code: 12 digits, new every 30 seconds, valid for about a minute.

digits = HMAC-SHA256(server.cookie_secret, "<entitlement id>|<window>") as a number mod 10^12, window =
unix time // 30. A screenshot is useless a minute later, and nobody can make a valid code without
the server's secret. The mini-program shows it as text and as a QR code; the shop types or scans it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.benefits import ledger, live
from services.members.sessions import CurrentUser

WINDOW_SECONDS = 30
DIGITS = 12
CODE_RE = re.compile(r"[0-9]{12}")
EXPIRED = "券码无效或已过期，请让职工刷新券码后重试"


def digits(secret: str, entitlement_id: str, window: int) -> str:
    mac = hmac.new(secret.encode(), f"{entitlement_id}|{window}".encode(), hashlib.sha256).digest()
    return str(int.from_bytes(mac[:8], "big") % 10**DIGITS).zfill(DIGITS)


def window_now() -> int:
    return int(time.time()) // WINDOW_SECONDS


@dataclass(frozen=True)
class ShownCode:
    code: str
    refresh_in: int  # seconds until the next code
    valid_seconds: int


async def show(deps: Deps, user: CurrentUser, entitlement_id: str) -> ShownCode:
    """The current code of one of the worker's own entitlements (only redeemable ones have a code)."""
    ent = await ledger.get(deps, entitlement_id)
    if ent is None or not user.member_id or ent.member_id != user.member_id:
        raise NotFound("权益不存在", code="not_found")
    if ent.status == "held":
        raise Conflict("该券正在审核，审核通过后才能使用", code="held")
    if ent.status != "granted":
        raise Conflict(f"该券{STATUS_TEXT.get(ent.status, '不可用')}，不能再出示", code=ent.status)
    now = time.time()
    if ent.expires_at.timestamp() <= now:
        raise Conflict("该券已过期，不能再出示", code="expired")
    window = int(now) // WINDOW_SECONDS
    code = digits(deps.settings.server.cookie_secret, ent.id, window)
    await live.remember(deps.redis, code, ent.id)
    return ShownCode(code, WINDOW_SECONDS - int(now) % WINDOW_SECONDS, 2 * WINDOW_SECONDS)


async def resolve(deps: Deps, code: str) -> str:
    """The entitlement a typed or scanned code stands for, if the code is genuine and fresh."""
    code = re.sub(r"\s+", "", code or "")
    if not CODE_RE.fullmatch(code):
        raise BadInput("请输入 12 位数字券码", code="bad_code")
    eid = await live.lookup(deps.redis, code)
    if eid is None:
        raise Conflict(EXPIRED, code="code_expired")
    window = window_now()
    secret = deps.settings.server.cookie_secret
    if not any(hmac.compare_digest(code, digits(secret, eid, w)) for w in (window, window - 1)):
        raise Conflict(EXPIRED, code="code_expired")
    return eid


STATUS_TEXT = {"held": "正在审核", "granted": "可使用", "redeemed": "已核销", "expired": "已过期", "revoked": "已收回"}
