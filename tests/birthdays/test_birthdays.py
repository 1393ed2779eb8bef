"""Birthday gifts: roster column, once per member and year across reruns and org transfers, a budget that
concurrent runs never exceed, 02-29, the exceptions editors see, and the notice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import BadInput
from services import benefits
from services.birthdays import admin, granting, jobs, live, notify
from services.birthdays.policy import birthday_in, expires_at
from services.followers import store as followers
from services.members import roster
from services.members import store as members
from services.members import users_store as mini_users
from tests.lotteries.conftest import editor_scope

JINAN, LIXIA, QINGDAO = ("370000", "370100"), ("370000", "370100", "370102"), ("370000", "370200")


async def add(deps: Deps, no: str, birth_md: str, path: tuple[str, ...] = LIXIA, bound: bool = True) -> None:
    row = {"member_no": no, "name": "职工", "phone": "", "org": path[-1], "org_path": list(path), "birth_md": birth_md}
    await members.upsert_many(deps.db, [row])
    if bound:
        await mini_users.upsert_login(deps.db, f"mp-{no}", "", "")
        await mini_users.bind_member(deps.db, f"mp-{no}", no, path[-1], list(path))
        await members.mark_bound(deps.db, no, f"mp-{no}")


async def policy(deps: Deps, path: tuple[str, ...], budget_gifts: int, value: int = 5000, **over: Any) -> None:
    data = {"enabled": True, "title": "生日蛋糕券", "value_cents": value, "budget_cents": budget_gifts * value,
            "window_days": 30} | over  # fmt: skip
    await admin.save_policy(deps, editor_scope(path), data)


async def ledger_count(deps: Deps, year: int) -> int:
    return await deps.db.entitlements.count_documents({"source": f"bday:{year}"})


async def test_roster_import_takes_an_optional_birthday_column(deps: Deps) -> None:
    csv = "会员编号,姓名,生日\nB0001,张三,1985-03-07\nB0002,李四,2月29日\nB0003,王五,\nB0004,赵六,02-30\n".encode()
    report = await roster.import_roster(deps, "370102", csv, "m.csv")
    assert [(e.row, e.column) for e in report.errors] == [(5, "生日")]
    got = {no: (await members.get(deps.db, no)) for no in ("B0001", "B0002", "B0003")}
    assert {no: m.birth_md for no, m in got.items() if m} == {"B0001": "03-07", "B0002": "02-29", "B0003": ""}
    again = "会员编号,姓名\nB0001,张三\n".encode()  # a roster without the column keeps the birthday
    await roster.import_roster(deps, "370102", again, "m.csv")
    m = await members.get(deps.db, "B0001")
    assert m is not None and m.birth_md == "03-07"


def test_february_29_counts_as_february_28_in_other_years() -> None:
    assert birthday_in(2027, "02-29").isoformat() == "2027-02-28"
    assert birthday_in(2028, "02-29").isoformat() == "2028-02-29"
    assert expires_at(2027, "02-29", 3).date().isoformat() == "2027-03-03"


async def test_three_reruns_and_an_org_transfer_grant_nobody_twice(deps: Deps) -> None:
    await policy(deps, JINAN, budget_gifts=100)
    await policy(deps, QINGDAO, budget_gifts=100, title="青岛生日券")
    for i in range(20):
        await add(deps, f"T{i:04d}", f"03-{i + 1:02d}")
    await add(deps, "T9999", "04-01")  # another month
    first = await granting.run_month(deps, 2027, 3)
    assert first.granted == 20
    for _ in range(3):
        again = await granting.run_month(deps, 2027, 3)
        assert again.granted == 0 and again.already == 20
    # T0000 moves to 青岛 (another policy, another budget) and the job runs again for both.
    await members.upsert_many(deps.db, [{"member_no": "T0000", "name": "职工", "phone": "", "org": "370200",
                                         "org_path": list(QINGDAO), "birth_md": "03-01"}])  # fmt: skip
    moved = await granting.run_month(deps, 2027, 3)
    assert moved.granted == 0
    assert await ledger_count(deps, 2027) == 20
    ent = await benefits.get(deps, benefits.entitlement_id("bday:2027", "T0000"))
    assert ent is not None and ent.org == "370102"  # paid by the org at grant time
    assert await live.spent(deps, "370200", 2027) in (None, 0)
    assert await live.spent(deps, "370100", 2027) == 20 * 5000


async def test_concurrent_runs_never_exceed_the_budget(deps: Deps) -> None:
    await policy(deps, JINAN, budget_gifts=7)
    for i in range(25):
        await add(deps, f"K{i:04d}", "05-10")
    reports = await asyncio.gather(*(granting.run_month(deps, 2027, 5) for _ in range(4)))
    assert sum(r.granted for r in reports) == 7
    assert await ledger_count(deps, 2027) == 7
    assert await live.spent(deps, "370100", 2027) == 7 * 5000
    await deps.redis.flushall()  # the counter is rebuilt from the claims, not reset to zero
    later = await granting.run_month(deps, 2027, 5)
    assert later.granted == 0 and len(later.over_budget) == 18
    assert await live.spent(deps, "370100", 2027) == 7 * 5000


async def test_preview_shows_cost_and_exceptions_before_the_run(deps: Deps) -> None:
    await policy(deps, JINAN, budget_gifts=2)
    await add(deps, "V0001", "06-01")
    await add(deps, "V0002", "06-02")
    await add(deps, "V0003", "06-03")
    await add(deps, "V0004", "06-04", bound=False)
    await members.upsert_many(deps.db, [{"member_no": "V0005", "name": "无生日", "phone": "", "org": "370102",
                                         "org_path": list(LIXIA)}])  # fmt: skip
    p = await admin.preview(deps, editor_scope(), 2027, 6)
    assert [(r.members, r.cost_cents, r.over_budget) for r in p.rows] == [(3, 2 * 5000, 1)]
    assert [x["member_no"] for x in p.not_bound] == ["V0004"] and p.no_birthday == 1
    with pytest.raises(BadInput):
        await admin.save_policy(deps, editor_scope(), {"title": "", "value_cents": 1, "budget_cents": 1})


async def test_members_are_told_once(deps: Deps, fake_wechat: Any) -> None:
    await policy(deps, JINAN, budget_gifts=10)
    await add(deps, "N0001", "07-01")
    fake_wechat.state.grant_consent("mp-N0001", "TPL_BIRTHDAY_GIFT")
    report = await granting.run_month(deps, 2027, 7)
    assert await notify.notify_many(deps, report.new_claims) == {"subscribe": 1}
    assert await notify.notify_many(deps, report.new_claims) == {"skipped": 1}
    assert fake_wechat.state.delivered_count("subscribe") == 1


async def test_the_daily_job_grants_this_month_and_notifies_once(deps: Deps, fake_wechat: Any) -> None:
    at = now()
    await policy(deps, JINAN, budget_gifts=10)
    await add(deps, "J0001", f"{at.month:02d}-01")
    await add(deps, "J0002", f"{at.month:02d}-02")
    fake_wechat.state.grant_consent("mp-J0001", "TPL_BIRTHDAY_GIFT")
    first = await jobs.run_once(deps)
    assert first is not None and first.granted == 2
    assert await jobs.run_once(deps) is None  # once a day
    assert fake_wechat.state.delivered_count("subscribe") == 1  # J0002 never consented: refused, not retried
    outcomes = {d["_id"]: d["notice"] async for d in deps.db.birthday_grants.find({})}
    assert outcomes == {f"bday:{at.year}:J0001": "subscribe", f"bday:{at.year}:J0002": "refused"}


async def test_a_february_29_member_gets_the_gift_in_a_common_year(deps: Deps) -> None:
    await policy(deps, JINAN, budget_gifts=5, window_days=7)
    await add(deps, "F0229", "02-29")
    report = await granting.run_month(deps, 2027, 2)
    assert report.granted == 1
    ent = await benefits.get(deps, benefits.entitlement_id("bday:2027", "F0229"))
    assert ent is not None and ent.expires_at.date().isoformat() == "2027-03-07"  # 02-28 + 7 days


async def test_a_follower_is_told_by_template_message(deps: Deps, fake_wechat: Any) -> None:
    """A member who also follows 山东工会 gets a template message (no consent needed), with the page."""
    await policy(deps, JINAN, budget_gifts=10)
    await add(deps, "G0001", "08-08")
    fake_wechat.state.add_followers(["oa-G0001"])
    await followers.subscribed(deps.db, "oa-G0001", now(), "", list(LIXIA))
    await mini_users.upsert_login(deps.db, "mp-G0001", "", "oa-G0001")
    report = await granting.run_month(deps, 2027, 8)
    assert await notify.notify_many(deps, report.new_claims) == {"template": 1}
    sent = fake_wechat.state.last_payload("template", "oa-G0001")
    assert sent is not None and "pages/benefits" in str(sent)
