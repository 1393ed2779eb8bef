"""Benefits: the ledger of entitlements (coupons, prizes, gifts), vendors and redemption at shops.

Other capabilities (coupons, lotteries, birthdays) grant through this package and may revoke;
redemption (granted → redeemed) and the worker's rotating code live here.
"""

from services.benefits.ledger import (
    Entitlement,
    EntitlementKind,
    EntitlementStatus,
    GrantRequest,
    entitlement_id,
    get,
    grant,
    grant_many,
    revoke,
)

__all__ = [
    "Entitlement",
    "EntitlementKind",
    "EntitlementStatus",
    "GrantRequest",
    "entitlement_id",
    "get",
    "grant",
    "grant_many",
    "revoke",
]
