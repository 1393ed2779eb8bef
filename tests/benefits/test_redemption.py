"""Redemption: a genuine fresh code, at a vendor of the right org, redeems once — even 50 at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, ServiceError
from services import benefits
from services.benefits import codes, live, redemption, vendors
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.members.sessions import CurrentUser
from tests.benefits.test_ledger import PATH, req

WORKER = CurrentUser("oW1", "", "M100", PATH[-1], PATH)


def scope(org: str, path: tuple[str, ...]) -> Scope:
    return Scope(Editor("ed", "编辑", "editor", org, path), org)


async def _setup(deps: Deps, **over: object) -> tuple[str, vendors.Vendor]:
    ent, _ = await benefits.grant(deps, req("M100", source="cpn:b1", kind="coupon", **over))
    shop = await vendors.register(deps, scope("370102", PATH), "历下银座超市", "泉城路 1 号")
    return ent.id, shop


async def test_fifty_concurrent_redemptions_of_one_code_succeed_exactly_once(deps: Deps) -> None:
    eid, shop = await _setup(deps)
    shown = await codes.show(deps, WORKER, eid)
    assert len(shown.code) == 12 and 0 < shown.refresh_in <= 30

    async def attempt() -> object:
        try:
            return await redemption.redeem(deps, shop, shown.code, None)
        except ServiceError as exc:
            return exc

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    done = [r for r in results if isinstance(r, benefits.Entitlement)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(done) == 1 and done[0].status == "redeemed" and done[0].vendor_id == shop.id
    assert len(refused) == 49 and all(r.code == "already_redeemed" and "不能重复使用" in r.message for r in refused)
    stored = await benefits.get(deps, eid)
    assert stored is not None and stored.status == "redeemed"
    with pytest.raises(Conflict, match="已核销"):
        await codes.show(deps, WORKER, eid)


async def test_foreign_vendor_org_expired_code_and_forged_code_are_refused(deps: Deps) -> None:
    eid, shop = await _setup(deps, vendor_org="370102")
    qingdao = await vendors.register(deps, scope("370200", ("370000", "370200")), "青岛超市")
    shown = await codes.show(deps, WORKER, eid)
    with pytest.raises(Forbidden, match="不能在本店核销"):
        await redemption.redeem(deps, qingdao, shown.code, None)
    with pytest.raises(Conflict, match="券码无效或已过期"):
        await redemption.redeem(deps, shop, "123456789012", None)
    with pytest.raises(BadInput, match="12 位数字"):
        await redemption.redeem(deps, shop, "12ab", None)
    # a code from two windows ago (a screenshot a minute old) no longer verifies, even if still looked up
    old = codes.digits(deps.settings.server.cookie_secret, eid, codes.window_now() - 2)
    await live.remember(deps.redis, old, eid)
    with pytest.raises(Conflict, match="券码无效或已过期"):
        await redemption.redeem(deps, shop, old, None)
    assert (await redemption.redeem(deps, shop, shown.code, None)).status == "redeemed"


async def test_held_and_expired_entitlements_cannot_be_redeemed(deps: Deps) -> None:
    held, _ = await benefits.grant(deps, req("M100", source="cpn:h", held=True))
    with pytest.raises(Conflict, match="审核"):
        await codes.show(deps, WORKER, held.id)
    eid, shop = await _setup(deps, expires_at=now() + timedelta(seconds=2))
    shown = await codes.show(deps, WORKER, eid)
    await asyncio.sleep(2.1)
    with pytest.raises(Conflict, match="已过期"):
        await redemption.redeem(deps, shop, shown.code, None)
    with pytest.raises(Conflict, match="已过期"):
        await codes.show(deps, WORKER, eid)
    other = CurrentUser("oW2", "", "M200", PATH[-1], PATH)
    with pytest.raises(ServiceError, match="权益不存在"):
        await codes.show(deps, other, eid)


async def test_monthly_statement_lists_the_vendors_redemptions_with_a_total(deps: Deps) -> None:
    eid, shop = await _setup(deps)
    await redemption.redeem(deps, shop, (await codes.show(deps, WORKER, eid)).code, None)
    month = now().strftime("%Y-%m")
    st = await redemption.statement(deps, shop, month)
    assert st.count == 1 and st.total_cents == 8800
    assert st.rows[0] == redemption.HEADER and st.rows[1][1] == redemption.reference(eid) and st.rows[-1][-1] == "88.00"
    assert "M100" not in str(st.rows)  # members are masked
    assert (await redemption.statement(deps, shop, "2020-01")).count == 0
