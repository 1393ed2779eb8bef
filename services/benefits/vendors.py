"""Vendors (shops where workers redeem benefits), registered by editors per org. Audited.

A vendor registered in org X may redeem entitlements whose `vendor_org` is X or above X: a benefit
of 济南 (vendor_org 370100) can be redeemed at any shop registered in 济南's subtree.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput
from services.benefits import store
from services.editors import audit
from services.editors.scope import Scope


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str
    address: str
    org: str
    org_path: tuple[str, ...]
    disabled: bool = False


def from_doc(doc: dict[str, Any]) -> Vendor:
    return Vendor(doc["_id"], doc["name"], doc.get("address", ""), doc["org"], tuple(doc["org_path"]),
                  bool(doc.get("disabled")))  # fmt: skip


async def register(deps: Deps, scope: Scope, name: str, address: str = "", org: str = "") -> Vendor:
    scope.require_write()
    name, address = name.strip(), address.strip()
    if not 1 <= len(name) <= 40:
        raise BadInput("请填写商户名称（不超过 40 字）", code="name")
    if len(address) > 100:
        raise BadInput("地址不超过 100 字", code="address")
    owner = await scope.owner(deps.db, org or None)
    vendor_id = "v" + secrets.token_hex(5)
    doc = {"_id": vendor_id, "name": name, "address": address, "org": owner.code,
           "org_path": list(owner.path), "created_by": scope.editor.username, "created_at": now()}  # fmt: skip
    await store.insert_vendor(deps.db, doc)
    await audit.record(deps.db, scope.editor, "create", "vendor", vendor_id, owner.path, summary=f"登记商户「{name}」",
                       after={"name": name, "address": address, "org": owner.code}, ip=scope.ip)  # fmt: skip
    return from_doc(doc)


async def get(deps: Deps, vendor_id: str) -> Vendor | None:
    doc = await store.find_vendor(deps.db, vendor_id)
    return from_doc(doc) if doc else None


async def in_scope(deps: Deps, scope: Scope, vendor_id: str) -> Vendor:
    return from_doc(scope.check_doc(await store.find_vendor(deps.db, vendor_id), "商户"))


async def list_for(deps: Deps, scope: Scope) -> list[Vendor]:
    return [from_doc(d) for d in await store.vendors_under(deps.db, scope.org)]
