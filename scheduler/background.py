"""Every piece of background work the service runs, in one list (like `app.route_table()` for URLs).

- `Every`: a turn repeated on a cadence by `scheduler.loop.repeat` on every instance (each step is
  guarded or leased, so instances never double an effect); the turn lives in its capability.
- `Started`: a capability's own start (drain what a previous process left, then its long-running
  consumers: write-behind flushers, stream consumers, the push fan-out and the scheduler leader).
`start(deps)` is the start hook that runs them all, in this order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import scheduler as pushes_scheduler
from core.deps import Deps
from scheduler.loop import Turn, repeat
from services.activities import jobs as activity_jobs
from services.activities import reminders as activity_reminders
from services.benefits import jobs as benefit_jobs
from services.birthdays import jobs as birthday_jobs
from services.consultation import jobs as consultation_jobs
from services.counselling import jobs as counselling_jobs
from services.coupons import jobs as coupon_jobs
from services.followers import roster as follower_roster
from services.learning import jobs as learning_jobs
from services.library import jobs as library_jobs
from services.lotteries import jobs as lottery_jobs
from services.polls import definitions as polls
from services.pushes import keyspace as push_keyspace
from services.pushes import retention as push_retention
from storage import invalidation


@dataclass(frozen=True)
class Every:
    name: str
    turn: Turn
    seconds: float


@dataclass(frozen=True)
class Started:
    name: str
    start: Callable[[Deps], Awaitable[None]]


BACKGROUND: list[Every | Started] = [
    # first: every per-process cache hears of changes made on other instances (storage/invalidation.py)
    Started("caches: invalidation watcher (pub/sub + version poll)", invalidation.start),
    # write-behind flushers and stream consumers (each drains what a previous process left first)
    Started("polls: ballot flusher, live polls re-synced", polls.start),
    Started("activities: sign-up flusher, confirmations", activity_jobs.start),
    Started("coupons: grant flusher, wave reminders", coupon_jobs.start),
    Started("learning: progress flusher", learning_jobs.start),
    Started("lotteries: instant-win write-behind, end of 公示", lottery_jobs.start),
    Started("counselling: hold sweeper, notices, slot horizon, purge", counselling_jobs.start),
    Started("pushes: fan-out workers, scheduler leader", pushes_scheduler.start),
    # jobs on a cadence
    Every("activities: reminders before sessions", activity_reminders.send_due_reminders, 60.0),
    Every("benefits: entitlements past their date expire", benefit_jobs.expire_once, 3600.0),
    Every("birthdays: the day's gifts (once a day, leased)", birthday_jobs.run_once, 3600.0),
    Every("consultation: SLA escalation, closing, delivery recovery", consultation_jobs.run_once, 60.0),
    Every("library: expired holds, overdue reminders", library_jobs.run_once, 60.0),
    Every("pushes: delivery records and chunks past retention deleted", push_retention.purge_once, 3600.0),
    Every("followers: roster upkeep (rebuilt after a loss, crashes healed)", follower_roster.roster_turn, 5.0),
    Every("pushes: the followers' key space for cutting audiences (hourly)", push_keyspace.refresh_once, 300.0),
]


async def start(deps: Deps) -> None:
    for work in BACKGROUND:
        if isinstance(work, Started):
            await work.start(deps)
        else:
            deps.spawn(repeat(deps, work.name, work.turn, work.seconds), work.name)
