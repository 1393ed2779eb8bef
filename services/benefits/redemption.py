"""Redemption at shops: one guarded update `granted` → `redeemed`, so a code is honoured once.

However many phones submit the same code at the same moment, MongoDB applies the update to the one
document once (the filter requires `status: granted` and an unexpired date); everyone else is told
why not, in Chinese. A vendor redeems only entitlements whose `vendor_org` lies on its own org path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import TZ, localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.benefits import codes, ledger, store
from services.benefits.vendors import Vendor
from services.editors import audit
from services.editors.accounts import Editor


async def redeem(deps: Deps, vendor: Vendor, code: str, actor: Editor | None, ip: str = "") -> ledger.Entitlement:
    if vendor.disabled:
        raise Forbidden("该商户已停用，不能核销", code="vendor_disabled")
    eid = await codes.resolve(deps, code)
    ent = await ledger.get(deps, eid)
    if ent is None:
        raise NotFound("券不存在", code="not_found")
    if ent.vendor_org not in vendor.org_path:
        raise Forbidden("该券不能在本店核销：本店不在该券的使用范围内", code="other_vendor_org")
    at = now()
    extra = {"redeemed_at": at, "vendor_id": vendor.id, "vendor_name": vendor.name}
    doc = await store.change_status(deps.db, eid, from_=("granted",), to="redeemed", extra=extra,
                                    where={"expires_at": {"$gt": at}})  # fmt: skip
    if doc is None:
        raise _why_not(await ledger.get(deps, eid))
    done = ledger.from_doc(doc)
    summary = f"核销「{done.title}」（会员 {mask(done.member_id)}，{done.value_cents / 100:.2f} 元）"
    await audit.record(deps.db, actor, "redeem", "entitlement", eid, vendor.org_path, summary=summary,
                       after={"vendor_id": vendor.id}, ip=ip)  # fmt: skip
    return done


def _why_not(ent: ledger.Entitlement | None) -> Conflict | NotFound:
    if ent is None:
        return NotFound("券不存在", code="not_found")
    if ent.status == "redeemed" and ent.redeemed_at:
        when = localize(ent.redeemed_at).strftime("%m-%d %H:%M")
        return Conflict(f"该券已于 {when} 核销，不能重复使用", code="already_redeemed")
    if ent.status == "held":
        return Conflict("该券正在审核，暂不能核销", code="held")
    if ent.status == "revoked":
        return Conflict("该券已被收回，不能核销", code="revoked")
    return Conflict("该券已过期，不能核销", code="expired")


def reference(entitlement_id: str) -> str:
    """The statement's 券编号: stable and checkable by the union, without the member number in it."""
    return hashlib.sha256(entitlement_id.encode()).hexdigest()[:12].upper()


def mask(member_id: str) -> str:
    return member_id[:2] + "***" + member_id[-2:] if len(member_id) > 4 else "***"


@dataclass(frozen=True)
class Statement:
    vendor: Vendor
    month: str  # YYYY-MM
    rows: list[list[Any]]  # header first
    count: int
    total_cents: int


HEADER = ["核销时间", "券编号", "名称", "会员（脱敏）", "出资单位", "面值（元）"]


def month_range(month: str) -> tuple[datetime, datetime]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=TZ)
    except ValueError:
        raise BadInput("月份格式应为 2026-05", code="month") from None
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=TZ)
    return start, end


async def statement(deps: Deps, vendor: Vendor, month: str) -> Statement:
    """The month's redemptions at one vendor, for settlement: one row each, the total at the end."""
    start, end = month_range(month)
    docs = await store.redeemed_by_vendor(deps.db, vendor.id, start, end)
    rows: list[list[Any]] = [HEADER]
    total = 0
    for d in docs:
        total += int(d.get("value_cents") or 0)
        rows.append([d["redeemed_at"], reference(d["_id"]), d["title"], mask(d["member_id"]), d["org"],
                     f"{int(d.get('value_cents') or 0) / 100:.2f}"])  # fmt: skip
    rows.append(["合计", f"{len(docs)} 张", "", "", "", f"{total / 100:.2f}"])
    return Statement(vendor, month, rows, len(docs), total)
