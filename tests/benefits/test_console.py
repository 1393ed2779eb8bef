"""Shops in the console: an admin registers a vendor and its account; the vendor account sees only the
redemption page, redeems a worker's code once, and downloads its statement."""

from __future__ import annotations

import asyncio
import re

from core.clock import now
from core.deps import Deps
from services import benefits
from services.benefits import codes
from services.members.sessions import CurrentUser
from tests.benefits.test_ledger import PATH, req
from tests.console.conftest import PASSWORD, Client


async def test_a_vendor_account_redeems_once_and_sees_only_redemption(deps: Deps, client: Client) -> None:
    admin = await client("jn_admin", org="370100", role="admin")
    resp = await admin.post("/admin/vendors", {"name": "历下银座超市", "address": "泉城路 1 号"})
    assert resp.status == 303
    page = await admin.get("/admin/vendors")
    vendor_id = re.search(r'data-vendor-id="(v[0-9a-f]{10})"', page.text).group(1)  # type: ignore[union-attr]
    made = await admin.post(
        f"/admin/vendors/{vendor_id}/account", {"username": "shop1", "name": "店员", "password": PASSWORD}
    )
    assert made.status == 303
    qingdao = await client("qd_admin", org="370200", role="admin")
    assert (
        await qingdao.post(f"/admin/vendors/{vendor_id}/account", {"username": "shop2", "password": PASSWORD})
    ).status == 404

    shop = await client(fresh=True)
    assert (await shop.login("shop1")).status == 303
    assert (await shop.get("/admin/")).location == "/admin/redeem"
    assert (await shop.get("/admin/polls")).location == "/admin/redeem"
    assert (await shop.api("GET", "/api/admin/polls")).json["code"] == "vendor_only"
    assert (await shop.post("/admin/vendors", {"name": "自己登记"})).status == 403
    page = await shop.get("/admin/redeem")
    assert page.status == 200 and "历下银座超市" in page.text and "当前工会" not in page.text

    ent, _ = await benefits.grant(deps, req("M100", source="cpn:b9", kind="coupon"))
    worker = CurrentUser("oW1", "", "M100", PATH[-1], PATH)
    code = (await codes.show(deps, worker, ent.id)).code
    done = await shop.post("/admin/redeem", {"code": f"{code[:6]} {code[6:]}"})
    assert done.status == 200 and "核销成功" in done.text
    again = await shop.post("/admin/redeem", {"code": code})
    assert again.status == 409 and "不能重复使用" in again.text
    assert (await shop.api("POST", "/api/admin/redeem", {"code": code})).json["code"] == "already_redeemed"
    # 50 taps on the shop's phones at once, through the whole HTTP path: one redemption
    second, _ = await benefits.grant(deps, req("M100", source="cpn:b10", kind="coupon"))
    code2 = (await codes.show(deps, worker, second.id)).code
    answers = await asyncio.gather(*(shop.api("POST", "/api/admin/redeem", {"code": code2}) for _ in range(50)))
    assert sorted(a.status for a in answers) == [200] + [409] * 49
    # an editor is not a shop: redemption needs a vendor account
    refused = await admin.api("POST", "/api/admin/redeem", {"code": code})
    assert refused.status == 403 and refused.json["code"] == "vendor_required"

    month = now().strftime("%Y-%m")
    for who in (shop, admin):
        csv = await who.get(f"/admin/vendors/{vendor_id}/statement.csv?month={month}")
        assert csv.status == 200 and "生日蛋糕券" in csv.text and "176.00" in csv.text  # two redeemed
    async with admin.http.get(f"{admin.base}/admin/vendors/{vendor_id}/statement.xlsx?month={month}") as xlsx:
        assert xlsx.status == 200 and "spreadsheetml" in xlsx.headers["Content-Type"]
        assert (await xlsx.read())[:2] == b"PK"  # a zip: the .xlsx container
    logged = await deps.db.audit_log.find({"action": "redeem"}).to_list()
    assert len(logged) == 2 and {d["actor"] for d in logged} == {"shop1"}
