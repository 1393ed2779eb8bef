"""The ledger of entitlements: coupons, prizes and gifts, one document per (source, member).

The key is the roster member number, never the WeChat account: a member who logs in from two phones
(or is re-bound) still gets one. Grants are idempotent inserts under `entitlement_id(source, member)`;
state changes (held → granted, granted|held → revoked, granted → redeemed) are single guarded updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, cast

from core import clock
from core.deps import Deps
from services.benefits import store

EntitlementKind = Literal["coupon", "prize", "gift"]
EntitlementStatus = Literal["held", "granted", "redeemed", "expired", "revoked"]


@dataclass(frozen=True)
class GrantRequest:
    source: str  # "cpn:<batch id>", "lot:<lottery id>", "bday:<year>"
    member_id: str  # roster member number (one per member, never per WeChat account)
    org: str  # the member's org at grant time: that org pays
    org_path: tuple[str, ...]
    kind: EntitlementKind
    title: str  # what the worker sees, e.g. "生日蛋糕券"
    value_cents: int  # face value for settlement statements (0 when none)
    vendor_org: str  # vendors registered in this org's subtree may redeem it
    expires_at: datetime
    held: bool = False  # True: under review (e.g. risk rank 4), not redeemable until released
    note: str = ""  # reason shown to editors (e.g. "风险等级 4，待审核")


@dataclass(frozen=True)
class Entitlement:
    id: str  # f"{source}:{member_id}" — the unique key (MongoDB _id)
    source: str
    member_id: str
    org: str
    org_path: tuple[str, ...]
    kind: EntitlementKind
    title: str
    value_cents: int
    vendor_org: str
    status: EntitlementStatus
    granted_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    vendor_id: str | None
    note: str


def entitlement_id(source: str, member_id: str) -> str:
    return f"{source}:{member_id}"


def to_doc(req: GrantRequest, granted_at: datetime) -> dict[str, Any]:
    return {
        "_id": entitlement_id(req.source, req.member_id),
        "source": req.source,
        "member_id": req.member_id,
        "org": req.org,
        "org_path": list(req.org_path),
        "kind": req.kind,
        "title": req.title,
        "value_cents": req.value_cents,
        "vendor_org": req.vendor_org,
        "status": "held" if req.held else "granted",
        "granted_at": granted_at,
        "expires_at": req.expires_at,
        "redeemed_at": None,
        "vendor_id": None,
        "note": req.note,
    }


def from_doc(doc: dict[str, Any]) -> Entitlement:
    redeemed_at = doc.get("redeemed_at")
    return Entitlement(
        id=str(doc["_id"]),
        source=doc["source"],
        member_id=doc["member_id"],
        org=doc["org"],
        org_path=tuple(doc.get("org_path") or ()),
        kind=cast(EntitlementKind, doc["kind"]),
        title=doc["title"],
        value_cents=int(doc.get("value_cents") or 0),
        vendor_org=doc["vendor_org"],
        status=cast(EntitlementStatus, doc["status"]),
        granted_at=clock.localize(doc["granted_at"]),
        expires_at=clock.localize(doc["expires_at"]),
        redeemed_at=clock.localize(redeemed_at) if redeemed_at else None,
        vendor_id=doc.get("vendor_id"),
        note=doc.get("note") or "",
    )


async def grant(deps: Deps, req: GrantRequest) -> tuple[Entitlement, bool]:
    """Insert once under the unique _id (journaled, j=True); (existing, False) when already there."""
    doc, new = await store.insert_once(deps.db, to_doc(req, clock.now()))
    return from_doc(doc), new


async def grant_many(deps: Deps, reqs: Sequence[GrantRequest]) -> int:
    """Idempotent bulk insert ($setOnInsert upserts, ordered=False, j=True); returns how many were new."""
    at = clock.now()
    return await store.insert_many_once(deps.db, [to_doc(r, at) for r in reqs])


async def grant_docs(deps: Deps, docs: Sequence[dict[str, Any]]) -> int:
    """grant_many for documents already built with to_doc (the coupon flusher keeps the grab's time)."""
    return await store.insert_many_once(deps.db, docs)


async def get(deps: Deps, entitlement_id: str) -> Entitlement | None:
    doc = await store.find(deps.db, entitlement_id)
    return from_doc(doc) if doc else None


async def revoke(deps: Deps, entitlement_id: str, *, reason: str) -> bool:
    """Guarded granted|held → revoked; False when it was redeemed, expired, revoked or unknown."""
    extra = {"note": reason, "revoked_at": clock.now()}
    return (
        await store.change_status(deps.db, entitlement_id, from_=("granted", "held"), to="revoked", extra=extra)
        is not None
    )


async def release(deps: Deps, entitlement_id: str, *, note: str = "") -> bool:
    """Guarded held → granted (an editor cleared the review)."""
    extra = {"note": note, "released_at": clock.now()}
    return await store.change_status(deps.db, entitlement_id, from_=("held",), to="granted", extra=extra) is not None


async def of_member(deps: Deps, member_id: str) -> list[Entitlement]:
    return [from_doc(d) for d in await store.of_member(deps.db, member_id)]


def as_dict(e: Entitlement) -> dict[str, Any]:
    return asdict(e)
