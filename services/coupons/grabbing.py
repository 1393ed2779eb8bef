"""Workers grab coupons: one Lua decision per grab, then (for winners only) WeChat's risk check.

The decision (batch open, audience, member not served, wave open, own org's bucket or the common
pool) and the grant's record in the stream are one atomic script (services/coupons/live.py); the
ledger document follows from the stream (services/coupons/jobs.py). The limit is one per roster
member: unbound workers are refused and pointed to the binding page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.clock import from_timestamp
from core.deps import Deps
from core.errors import Conflict, Forbidden, NotFound, ServiceError
from services.benefits.ledger import entitlement_id
from services.coupons import recovery, risk
from services.coupons.jobs import live
from services.coupons.live import GrabAnswer, Served
from services.members.sessions import CurrentUser

BIND_PAGE = "pages/member/bind"
NOT_MEMBER = f"抢券仅限工会会员：请先绑定会员身份（小程序「我的 - 会员绑定」，页面 {BIND_PAGE}）"
STATE_TEXT = {"p": "已抢到", "g": "已抢到", "u": "已抢到", "h": "已抢到，待审核（审核通过后可使用）", "x": "已被收回"}


@dataclass(frozen=True)
class GrabResult:
    entitlement_id: str
    status: str  # granted | held
    message: str
    bucket_left: int
    pool_left: int
    replayed: bool = False

    def answer(self) -> dict[str, object]:
        return {
            "entitlement_id": self.entitlement_id,
            "status": self.status,
            "message": self.message,
            "bucket_left": self.bucket_left,
            "pool_left": self.pool_left,
        }


def require_member(user: CurrentUser) -> None:
    if not user.is_member:
        raise Forbidden(NOT_MEMBER, code="not_member")


async def grab(deps: Deps, user: CurrentUser, batch_id: str, ip: str, idempotency_key: str = "") -> GrabResult:
    require_member(user)
    coupons = live(deps)
    ans = await _decide(deps, user, batch_id, idempotency_key)
    if ans.outcome == "nometa" and await recovery.rebuild(deps, batch_id):  # Redis lost it: MongoDB knows
        ans = await _decide(deps, user, batch_id, idempotency_key)
    eid = entitlement_id(f"cpn:{batch_id}", user.member_id)
    if ans.outcome == "replay":
        served = await coupons.served(batch_id, user.member_id)
        if served is None:  # the key was answered with a grant that no longer shows: treat as new question
            raise Conflict("请求编号已使用，请重新发起抢券", code="idempotency_key_reused")
        if served.state == "p":  # the first attempt died between the grant and its risk check: finish it
            verdict = await risk.check(deps, user.openid, ip)
            await coupons.verdict(batch_id, user.member_id, verdict.state, verdict.rank, verdict.reason)
            served = await coupons.served(batch_id, user.member_id) or served
        left = await _left(deps, batch_id, served.bucket)
        return GrabResult(eid, _status(served), STATE_TEXT[served.state], *left, replayed=True)
    if ans.outcome != "ok":
        raise _refusal(ans)
    bucket_left, pool_left = int(ans.detail[2]), int(ans.detail[3])  # detail: source, own bucket, left, pool
    verdict = await risk.check(deps, user.openid, ip)
    await coupons.verdict(batch_id, user.member_id, verdict.state, verdict.rank, verdict.reason)
    status = "held" if verdict.state == "h" else "granted"
    return GrabResult(eid, status, STATE_TEXT[verdict.state], bucket_left, pool_left)


async def _decide(deps: Deps, user: CurrentUser, batch_id: str, idempotency_key: str) -> GrabAnswer:
    return await live(deps).grab(
        batch_id, user.member_id, now_ms=int(time.time() * 1000), org_path=user.org_path, openid=user.openid,
        org=user.org, idempotency_key=idempotency_key,
    )  # fmt: skip


def _status(served: Served) -> str:
    return {"h": "held", "x": "revoked"}.get(served.state, "granted")


async def _left(deps: Deps, batch_id: str, bucket: str) -> tuple[int, int]:
    stock = await live(deps).stock(batch_id)
    return (stock.get(bucket, 0) if bucket and bucket != "_pool" else 0), stock.get("_pool", 0)


def _refusal(ans: GrabAnswer) -> ServiceError:
    d = ans.detail
    match ans.outcome:
        case "nometa":
            return NotFound("该批优惠券不存在或已下线", code="batch_not_found")
        case "closed":
            return Conflict("该批优惠券已停止发放", code="batch_closed")
        case "audience":
            return Forbidden("该批优惠券不面向您所在的工会发放", code="not_in_audience")
        case "served":
            return Conflict("您已领过该批优惠券（每位会员限领 1 张），请在「我的权益」中查看", code="already_granted")
        case "early":
            opens = from_timestamp(int(d[0]) / 1000).strftime("%m-%d %H:%M")
            return Conflict(f"本轮抢券尚未开始，下一轮 {opens} 开始", code="wave_not_open")
        case "ended":
            return Conflict("该批优惠券的抢券时段已全部结束", code="ended")
        case "soldout":
            return Conflict(f"本轮已抢完（本单位剩 {d[1]} / 公共池 {d[2]}），请关注下一轮", code="sold_out")
    return Conflict("暂时无法领取，请稍后再试", code="unavailable")


@dataclass(frozen=True)
class MyView:
    bucket: str  # the worker's bucket (a sub-org code), '' when they take from the pool only
    bucket_left: int
    pool_left: int
    state: str  # none | granted | held | revoked
    entitlement_id: str

    @property
    def text(self) -> str:
        return f"本单位剩 {self.bucket_left} / 公共池 {self.pool_left}"


async def my_view(deps: Deps, user: CurrentUser, batch_id: str, buckets: list[str]) -> MyView:
    """What the worker sees on the batch page: their bucket and the pool, now, and their own result."""
    coupons = live(deps)
    if not await coupons.status(batch_id):
        await recovery.rebuild(deps, batch_id)
    await coupons.tick(batch_id, int(time.time() * 1000))
    mine = next((b for b in buckets if b in user.org_path), "")
    stock = await coupons.stock(batch_id)
    served = await coupons.served(batch_id, user.member_id) if user.is_member else None
    state = "none" if served is None else _status(served)
    eid = entitlement_id(f"cpn:{batch_id}", user.member_id) if served else ""
    return MyView(mine, stock.get(mine, 0) if mine else 0, stock.get("_pool", 0), state, eid)
