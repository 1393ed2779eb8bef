"""Business calendar arithmetic and the SLA derived from a case's events (pure functions)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from core.clock import TZ
from services.consultation.calendar import BusinessCalendar, describe_hours
from services.consultation.model import Event
from services.consultation.sla import derive

# 2026-10-01 (Thursday) .. 10-07 is the National Day holiday; Saturday 10-10 is a make-up working day.
CAL = BusinessCalendar(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)), extra_workdays=frozenset({date(2026, 10, 10)})
)


def t(month: int, day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=TZ)


def test_working_day_is_the_sum_of_the_hours() -> None:
    assert CAL.day_seconds == 7.5 * 3600
    assert "周一至周五 08:30-12:00、13:30-17:30" in describe_hours(CAL)


def test_working_time_skips_lunch_nights_weekends_and_holidays() -> None:
    assert CAL.working_seconds(t(9, 28, 11), t(9, 28, 14)) == 1.5 * 3600  # Monday: 11-12 and 13:30-14
    assert CAL.working_seconds(t(9, 30, 17), t(10, 8, 9)) == 1.0 * 3600  # Wed 17:00 -> the holiday -> Thu 10-08 09:00
    assert CAL.working_seconds(t(10, 9, 17), t(10, 12, 8, 30)) == 7.5 * 3600 + 1800  # Fri end + make-up Saturday
    assert CAL.working_seconds(t(10, 11, 9), t(10, 11, 17)) == 0  # an ordinary Sunday


def test_adding_working_time_lands_inside_working_hours() -> None:
    assert CAL.add(t(9, 30, 16), 2 * 3600) == t(10, 8, 9)  # 1.5 h on Wednesday, the rest after the holiday
    assert CAL.add(t(9, 26, 10), 0) == t(9, 28, 8, 30)  # Saturday: the clock starts on Monday morning
    assert CAL.add(t(9, 28, 11, 30), 3600) == t(9, 28, 14)  # across lunch
    for start in (t(9, 28, 7), t(10, 2, 12), t(10, 10, 12, 45)):
        for seconds in (0, 600, 7200, 27000, 90000):
            end = CAL.add(start, seconds)
            assert abs(CAL.working_seconds(start, end) - seconds) < 1e-6


def ev(kind: str, at: datetime) -> Event:
    return Event(kind, at, "x")


def test_urgent_first_reply_is_due_in_two_working_hours() -> None:
    opened = t(9, 30, 16)  # Wednesday before the holiday
    state = derive([ev("opened", opened)], "wage", CAL, t(10, 8, 8, 45))
    assert state.current is not None and state.current.due_at == t(10, 8, 9)
    assert not state.breached_now
    late = derive([ev("opened", opened)], "wage", CAL, t(10, 8, 10))
    assert late.breached_now
    answered = derive([ev("opened", opened), ev("reply", t(10, 8, 8, 50))], "wage", CAL, t(10, 9, 9))
    first = answered.first_reply
    assert first is not None and first.answered_at is not None and not first.breached and answered.current is None


def test_other_categories_get_one_working_day() -> None:
    state = derive([ev("opened", t(9, 28, 10))], "contract", CAL, t(9, 28, 10))
    assert state.current is not None and state.current.due_at == t(9, 29, 10)


def test_waiting_for_the_worker_pauses_the_clock_and_a_worker_message_starts_a_new_one() -> None:
    events = [ev("opened", t(9, 28, 9)), ev("claimed", t(9, 28, 9, 5)), ev("wait", t(9, 28, 10))]
    paused = derive(events, "injury", CAL, t(9, 29, 17))
    assert paused.current is not None and paused.current.paused and paused.current.elapsed == 3600
    assert not paused.breached_now  # a day later, but the worker owed us an answer
    resumed = derive([*events, ev("worker", t(9, 29, 9))], "injury", CAL, t(9, 29, 9, 30))
    assert resumed.current is not None and resumed.current.elapsed == 3600 + 1800 and not resumed.breached_now
    assert resumed.current.due_at == t(9, 29, 10)
    replied = [*events, ev("worker", t(9, 29, 9)), ev("reply", t(9, 29, 9, 50)), ev("worker", t(9, 30, 9))]
    again = derive(replied, "injury", CAL, t(9, 30, 9))
    assert len(again.obligations) == 2 and not again.obligations[1].first
    assert again.current is not None and again.current.due_at == t(9, 30, 11)


def test_resolving_ends_the_clock_and_reopening_starts_one() -> None:
    events = [ev("opened", t(9, 28, 9)), ev("resolved", t(9, 28, 9, 30)), ev("reopened", t(10, 12, 9))]
    state = derive(events, "other", CAL, t(10, 12, 9))
    assert [o.first for o in state.obligations] == [True, False]
    assert state.current is not None and state.current.due_at == t(10, 13, 9)


def test_a_derived_state_does_not_depend_on_event_order_in_storage() -> None:
    events = [ev("opened", t(9, 28, 9)), ev("claimed", t(9, 28, 9, 5)), ev("reply", t(9, 28, 15))]
    a = derive(events, "wage", CAL, t(9, 29, 9))
    b = derive(list(reversed(events)), "wage", CAL, t(9, 29, 9))
    assert a == b and a.first_reply is not None and a.first_reply.breached
    assert a.first_reply.elapsed == CAL.working_seconds(t(9, 28, 9), t(9, 28, 15)) == timedelta(hours=4.5).seconds
