"""Editors' and vendors' console use cases for benefits: shops' accounts, redemption, statements."""

from __future__ import annotations

from typing import Any

from core.deps import Deps
from core.errors import Forbidden, NotFound
from services.benefits import redemption, vendors
from services.benefits.ledger import Entitlement
from services.editors import auth as console_auth
from services.editors.scope import Scope


async def create_vendor_account(deps: Deps, scope: Scope, vendor_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A shop's redemption account (role vendor), made by an admin whose subtree holds the shop."""
    vendor = await vendors.in_scope(deps, scope, vendor_id)
    account = {**data, "role": "vendor", "vendor_id": vendor.id, "org": vendor.org}
    return await console_auth.create_account(deps, scope.editor, account, scope.ip)


async def own_vendor(deps: Deps, scope: Scope) -> vendors.Vendor:
    """The shop of a vendor account (everything a vendor does is for that one shop)."""
    if not scope.editor.is_vendor:
        raise Forbidden("只有商户核销账号可以核销，请使用商户账号登录", code="vendor_required")
    vendor = await vendors.get(deps, scope.editor.vendor_id)
    if vendor is None:
        raise NotFound("账号绑定的商户不存在，请联系工会管理员", code="vendor_not_found")
    return vendor


async def redeem(deps: Deps, scope: Scope, code: str) -> Entitlement:
    vendor = await own_vendor(deps, scope)
    return await redemption.redeem(deps, vendor, code, scope.editor, scope.ip)


async def statement(deps: Deps, scope: Scope, vendor_id: str, month: str) -> redemption.Statement:
    """A month's statement: vendors see their own shop's, editors any shop in their subtree."""
    if scope.editor.is_vendor:
        vendor = await own_vendor(deps, scope)
    else:
        vendor = await vendors.in_scope(deps, scope, vendor_id)
    return await redemption.statement(deps, vendor, month)
