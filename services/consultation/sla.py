"""The SLA of a case, derived from its event log and its desk's business calendar (pure functions).

Nothing about the SLA is stored as truth: every view, report and escalation recomputes it from
the events, so a missed update can never leave a stale timer behind. An obligation starts when
the union owes the worker an answer (`opened`, `reopened`, or a `worker` message while nothing
is owed) and ends with the next staff answer (`reply` / `ask`) or the end of the case
(`resolved`, `referred`, `closed`). Its clock counts working time only, and stands still while
the case waits for the worker (`wait` ... `worker`). The first obligation is the first reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.consultation.calendar import BusinessCalendar
from services.consultation.model import Event, target_seconds

STARTS = frozenset({"opened", "reopened"})
ANSWERS = frozenset({"reply", "ask"})
ENDS = frozenset({"resolved", "referred", "closed"})


@dataclass(frozen=True)
class Obligation:
    first: bool  # the case's first reply
    started: datetime
    target: int  # working seconds
    elapsed: float  # working seconds used (up to the answer, or up to `now`)
    answered_at: datetime | None
    paused: bool
    due_at: datetime | None  # while the clock runs: when the target is reached

    @property
    def breached(self) -> bool:
        return self.elapsed > self.target

    @property
    def remaining(self) -> float:
        return self.target - self.elapsed


@dataclass(frozen=True)
class SlaState:
    obligations: tuple[Obligation, ...]

    @property
    def current(self) -> Obligation | None:
        """The obligation still open (no answer yet), if any."""
        last = self.obligations[-1] if self.obligations else None
        return last if last is not None and last.answered_at is None else None

    @property
    def first_reply(self) -> Obligation | None:
        return self.obligations[0] if self.obligations and self.obligations[0].first else None

    @property
    def breached_now(self) -> bool:
        cur = self.current
        return cur is not None and cur.breached


def derive(events: Sequence[Event], category: str, cal: BusinessCalendar, now: datetime) -> SlaState:
    target = target_seconds(category, cal.day_seconds)
    done: list[Obligation] = []
    started: datetime | None = None
    first = False
    elapsed = 0.0
    running_since: datetime | None = None

    def finish(at: datetime) -> None:
        nonlocal started, elapsed, running_since
        assert started is not None
        used = elapsed + (cal.working_seconds(running_since, at) if running_since else 0.0)
        done.append(Obligation(first, started, target, used, at, False, None))
        started, elapsed, running_since = None, 0.0, None

    for e in sorted(events, key=lambda x: x.at):
        if e.kind in STARTS or (e.kind == "worker" and started is None and done):
            if started is not None:
                continue  # already owed: a second start changes nothing
            first = e.kind == "opened" and not done
            started, elapsed, running_since = e.at, 0.0, e.at
        elif e.kind == "worker" and started is not None and running_since is None:
            running_since = e.at  # the worker answered: the paused clock runs again
        elif e.kind == "wait" and started is not None and running_since is not None:
            elapsed += cal.working_seconds(running_since, e.at)
            running_since = None
        elif (e.kind in ANSWERS or e.kind in ENDS) and started is not None:
            finish(e.at)
    if started is not None:
        used = elapsed + (cal.working_seconds(running_since, now) if running_since else 0.0)
        due = cal.add(running_since, target - elapsed) if running_since is not None else None
        done.append(Obligation(first, started, target, used, None, running_since is None, due))
    return SlaState(tuple(done))


@dataclass(frozen=True)
class CaseFacts:
    """What the report needs of one case."""

    case_id: str
    category: str
    desk: str
    events: tuple[Event, ...]


@dataclass
class ReportRow:
    desk: str
    category: str
    cases: int = 0
    first_replied: int = 0
    first_within: int = 0
    first_breached: int = 0  # answered late, or still unanswered past the target
    waiting: int = 0  # unanswered, still within the target
    reply_seconds: float = 0.0  # sum of working seconds to first reply (answered ones)

    @property
    def within_pct(self) -> float:
        decided = self.first_within + self.first_breached
        return 100.0 * self.first_within / decided if decided else 100.0

    @property
    def mean_minutes(self) -> float:
        return self.reply_seconds / 60 / self.first_replied if self.first_replied else 0.0


def report(
    cases: Iterable[CaseFacts], calendar_of: dict[str, BusinessCalendar], now: datetime
) -> dict[tuple[str, str], ReportRow]:
    """First-reply SLA per (desk, category); `calendar_of` maps a desk to its calendar."""
    rows: dict[tuple[str, str], ReportRow] = {}
    for c in cases:
        row = rows.setdefault((c.desk, c.category), ReportRow(c.desk, c.category))
        row.cases += 1
        first = derive(c.events, c.category, calendar_of[c.desk], now).first_reply
        if first is None:
            continue
        if first.answered_at is not None:
            row.first_replied += 1
            row.reply_seconds += first.elapsed
        if first.breached:
            row.first_breached += 1
        elif first.answered_at is not None:
            row.first_within += 1
        else:
            row.waiting += 1
    return rows
