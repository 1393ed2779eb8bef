"""The ledger: one entitlement per (source, member), whatever the retries, races and bulk reruns."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.clock import now
from core.deps import Deps
from services import benefits
from services.benefits import ledger

PATH = ("370000", "370100", "370102")


def req(member: str, source: str = "bday:2026", **over: object) -> benefits.GrantRequest:
    fields: dict[str, object] = {
        "source": source, "member_id": member, "org": PATH[-1], "org_path": PATH, "kind": "gift",
        "title": "生日蛋糕券", "value_cents": 8800, "vendor_org": "370100", "expires_at": now() + timedelta(days=30),
    }  # fmt: skip
    fields.update(over)
    return benefits.GrantRequest(**fields)  # type: ignore[arg-type]


async def test_grant_is_idempotent_and_keeps_the_first_document(deps: Deps) -> None:
    first, new = await benefits.grant(deps, req("M001"))
    assert new and first.status == "granted" and first.id == "bday:2026:M001"
    again, new_again = await benefits.grant(deps, req("M001", org="370103", title="别的"))
    assert not new_again
    assert again.org == "370102" and again.title == "生日蛋糕券"  # the org at first grant time pays
    assert await deps.db.entitlements.count_documents({}) == 1


async def test_concurrent_grants_of_one_key_store_one_document(deps: Deps) -> None:
    results = await asyncio.gather(*(benefits.grant(deps, req("M002")) for _ in range(30)))
    assert sum(1 for _, new in results if new) == 1
    assert {e.id for e, _ in results} == {"bday:2026:M002"}
    assert await deps.db.entitlements.count_documents({"member_id": "M002"}) == 1


async def test_grant_many_counts_only_new_and_reruns_add_nothing(deps: Deps) -> None:
    await benefits.grant(deps, req("M003"))
    batch = [req(f"M00{i}") for i in range(3, 8)]
    assert await benefits.grant_many(deps, batch) == 4
    assert await benefits.grant_many(deps, batch) == 0
    runs = await asyncio.gather(*(benefits.grant_many(deps, [req(f"N{i}") for i in range(20)]) for _ in range(4)))
    assert sum(runs) == 20
    assert await deps.db.entitlements.count_documents({}) == 25


async def test_held_grant_is_released_or_revoked_once(deps: Deps) -> None:
    held, _ = await benefits.grant(
        deps, req("M009", source="cpn:b1", kind="coupon", held=True, note="风险等级 4，待审核")
    )
    assert held.status == "held" and held.note == "风险等级 4，待审核"
    assert await ledger.release(deps, held.id)
    assert not await ledger.release(deps, held.id)
    revokes = await asyncio.gather(*(benefits.revoke(deps, held.id, reason="重复领取") for _ in range(10)))
    assert revokes.count(True) == 1
    got = await benefits.get(deps, held.id)
    assert got is not None and got.status == "revoked" and got.note == "重复领取"
    assert await benefits.get(deps, "cpn:b1:nobody") is None


async def test_past_their_date_granted_entitlements_expire_once(deps: Deps) -> None:
    from services.benefits import jobs

    await benefits.grant(deps, req("E1", expires_at=now() - timedelta(minutes=1)))
    await benefits.grant(deps, req("E2", expires_at=now() + timedelta(days=1)))
    await benefits.grant(deps, req("E3", expires_at=now() - timedelta(minutes=1), held=True))
    assert await jobs.expire_once(deps) == 1
    assert await jobs.expire_once(deps) == 0
    statuses = {d["member_id"]: d["status"] async for d in deps.db.entitlements.find({})}
    assert statuses == {"E1": "expired", "E2": "granted", "E3": "held"}
