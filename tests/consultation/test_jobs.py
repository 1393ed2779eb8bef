"""Escalating breached cases to the parent org's desk, closing resolved cases after 7 days, calendars per org."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from typing import Any

from core.clock import TZ, now
from core.deps import Deps
from services.consultation import answering, asking, desks, jobs, store
from services.consultation.calendar import BusinessCalendar
from services.consultation.people import Requester
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.followers.live import seen_key
from tests.consultation.conftest import JINAN_COUNTY, JINAN_FIRM

MONDAY_9 = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)


async def _desks(deps: Deps) -> None:
    await store.put_desk(deps.db, {"_id": "370102-legal", "org": "370102", "org_path": JINAN_COUNTY,
                                   "name": "历下区法律援助站", "categories": []})  # fmt: skip
    await store.put_desk(deps.db, {"_id": "370100-legal", "org": "370100", "org_path": ["370000", "370100"],
                                   "name": "济南市职工法律援助中心", "categories": []})  # fmt: skip


def who(name: str) -> Requester:
    return Requester(f"m:{name}", "", "", name, tuple(JINAN_FIRM))


async def test_a_breach_escalates_once_to_the_parent_desk(deps: Deps) -> None:
    await _desks(deps)
    case, _ = await asking.open_case(deps, who("x1"), asking.NewCase("wage", "拖欠工资两个月"), channel="mp",
                                     at=MONDAY_9)  # fmt: skip
    calm, _ = await asking.open_case(deps, who("x2"), asking.NewCase("other", "想咨询一下年假"), channel="mp",
                                     at=MONDAY_9)  # fmt: skip
    assert case["desk"] == "370102-legal" and case["due_at"] == MONDAY_9 + timedelta(hours=2)
    assert await jobs.escalate_breaches(deps, MONDAY_9 + timedelta(hours=1, minutes=59)) == 0
    at = MONDAY_9 + timedelta(hours=2, minutes=1)
    moved = await asyncio.gather(*[jobs.escalate_breaches(deps, at) for _ in range(4)])
    assert sum(moved) == 1  # the 欠薪 case only (2 working hours); the other has a working day
    doc = await store.get_case(deps.db, case["_id"])
    assert doc is not None and doc["escalated_desk"] == "370100-legal"
    assert [e["kind"] for e in doc["events"]].count("escalated") == 1
    city = Scope(Editor("jn", "济南", "editor", "370100", ("370000", "370100")), "370100")
    rows = await answering.queue(deps, city, desk="370100-legal")  # the city desk's own queue
    assert [r["id"] for r in rows] == [case["_id"]] and rows[0]["escalated_desk"] == "370100-legal"
    assert rows[0]["timer"]["breached"] is True
    assert (await store.get_case(deps.db, calm["_id"]) or {}).get("escalated_desk") is None


async def test_resolved_cases_close_after_seven_days_once(deps: Deps) -> None:
    case, _ = await asking.open_case(deps, who("y1"), asking.NewCase("other", "咨询加班费计算"), channel="mp",
                                     at=MONDAY_9)  # fmt: skip
    await deps.db.consult_cases.update_one(
        {"_id": case["_id"]}, {"$set": {"state": "resolved", "resolved_at": MONDAY_9}, "$unset": {"open_slot": ""}}
    )
    assert await jobs.close_resolved(deps, MONDAY_9 + timedelta(days=6)) == 0
    closed = await asyncio.gather(
        *[jobs.close_resolved(deps, MONDAY_9 + timedelta(days=7, minutes=1)) for _ in range(3)]
    )
    assert sum(closed) == 1
    doc = await store.get_case(deps.db, case["_id"])
    assert doc is not None and doc["state"] == "closed"


async def test_calendars_are_inherited_and_overridable_per_org(deps: Deps) -> None:
    province = BusinessCalendar(org="370000", holidays=frozenset({date(2026, 11, 3)}))
    await store.put_calendar(deps.db, desks.calendar_to_doc(province, ["370000"]))
    inherited = await desks.calendar_for(deps.db, JINAN_COUNTY)
    assert inherited.org == "370000" and date(2026, 11, 3) in inherited.holidays
    city = BusinessCalendar(org="370100", hours=((540, 720), (780, 1080)))  # 09:00-12:00, 13:00-18:00
    await store.put_calendar(deps.db, desks.calendar_to_doc(city, ["370000", "370100"]))
    own = await desks.calendar_for(deps.db, JINAN_COUNTY)
    assert own.org == "370100" and own.day_seconds == 8 * 3600 and not own.holidays
    qingdao = await desks.calendar_for(deps.db, ["370000", "370200"])
    assert qingdao.org == "370000"


async def test_an_answer_interrupted_while_sending_goes_out_once_as_a_notice(deps: Deps, fake_wechat: Any) -> None:
    oa = "oa_crash"
    fake_wechat.state.add_followers([oa])
    fake_wechat.state.touch(oa)  # inside the window: a customer-service message might have gone out already
    await deps.redis.hset(seen_key(oa), oa, str(time.time()))
    person = Requester("m:crash", "", oa, "crash", tuple(JINAN_FIRM))
    case, _ = await asking.open_case(deps, person, asking.NewCase("wage", "拖欠工资两个月"), channel="mp")
    at = now()
    reply = {"id": store.new_event_id(), "kind": "reply", "at": at, "by": "staff1", "text": "请带上工资条来"}
    # The answer was stored, then the process died before any delivery was recorded.
    assert await store.transition(deps.db, case["_id"], ["queued"], reply, {"state": "replied"}) is not None
    assert await jobs.recover_deliveries(deps, at + timedelta(seconds=30)) == 0  # maybe still being sent
    later = at + timedelta(minutes=3)
    assert sum(await asyncio.gather(*[jobs.recover_deliveries(deps, later) for _ in range(3)])) == 1
    doc = await store.get_case(deps.db, case["_id"])
    assert doc is not None and not doc.get("undelivered")
    assert doc["events"][-1]["delivery"]["channel"] == "template"  # never a second customer-service message
    assert len(fake_wechat.state.log.calls("cgi-bin/message/template/send")) == 1
    assert not fake_wechat.state.log.calls("cgi-bin/message/custom/send")
