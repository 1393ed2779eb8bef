"""Recusal along the org tree and the balanced assignment, as pure rules (the figures test uses the database)."""

from __future__ import annotations

import random

import pytest

from services.competitions.assignment import NotEnoughJudgesError, assign
from services.competitions.model import Criterion
from services.competitions.recusal import below, intersects, may_judge
from services.competitions.scoring import entry_result, ranks
from services.competitions.workdays import add_working_days, working_days_between

P, CITY, C1, C2 = "370000", "370100", "370102", "370103"
E1 = "3701020001"  # an enterprise under county C1


@pytest.mark.parametrize(
    ("entry", "judge", "expected"),
    [
        ([P, CITY, C1, E1], [P, CITY, C1], True),  # the judge's county holds the entry
        ([P, CITY, C1], [P, CITY, C1, E1], True),  # the entry (county team) is above the judge's enterprise
        ([P, CITY, C1, E1], [P, CITY, C1, E1], True),  # same org
        ([P, CITY, C1, E1], [P, CITY, C2], False),  # sibling county
        ([P, CITY, C1, E1], [P, CITY], False),  # the owner itself is everyone's ancestor: not a conflict
        ([P, CITY, C1, E1], [P], False),  # above the owner
        ([P, CITY, C1, E1], [P, "370200", "370202"], False),  # another city
    ],
)
def test_intersection_below_the_owner(entry: list[str], judge: list[str], expected: bool) -> None:
    assert intersects(entry, judge, CITY) is expected
    assert intersects(judge, entry, CITY) is expected  # symmetric


def test_below_and_declared_conflicts() -> None:
    assert below([P, CITY, C1], CITY) == (C1,) and below([P, "370200"], CITY) == ()
    assert may_judge("e1", [P, CITY, C1, E1], [[P, CITY, C2]], [], CITY)
    assert not may_judge("e1", [P, CITY, C1, E1], [[P, CITY, C2]], ["e1"], CITY)
    assert not may_judge("e1", [P, CITY, C1, E1], [[P, CITY, C2], [P, CITY, C1]], [], CITY)  # any affiliation


def test_assignment_is_deterministic_and_reports_a_short_panel() -> None:
    entries, judges = [f"e{i}" for i in range(40)], [f"j{i}" for i in range(9)]
    ok = lambda e, j: (int(e[1:]) + int(j[1:])) % 4 != 0  # noqa: E731
    first, second = assign(entries, judges, 5, ok), assign(entries, judges, 5, ok)
    assert first.by_entry == second.by_entry
    with pytest.raises(NotEnoughJudgesError) as short:
        assign(entries, judges[:5], 5, ok)
    assert short.value.quota == 5 and short.value.eligible < 5


def test_scores_trimmed_weighted_and_ranked() -> None:
    rubric = (Criterion("c1", "a", 40, 0, 10), Criterion("c2", "b", 60, 0, 10))
    rows = [{"c1": v, "c2": v} for v in (10, 9, 8, 7, 1)]  # 10 and 1 are dropped
    assert entry_result("e", rubric, rows, min_judges=5, trim=1).score == 8.0
    assert entry_result("e", rubric, rows[:4], min_judges=5, trim=1).score is None
    weighted = [{"c1": 10, "c2": 0}] * 5
    assert entry_result("e", rubric, weighted, min_judges=5, trim=1).score == 4.0
    assert ranks({"a": 9.0, "b": 9.5, "c": 9.0, "d": None, "e": 8.0}) == {"b": 1, "a": 2, "c": 2, "e": 4}


def test_a_judge_who_scores_everyone_higher_stands_out() -> None:
    from services.competitions.matrix import deviations, outliers

    rng = random.Random(5)
    rows = []
    for e in range(40):
        base = rng.uniform(5, 8)
        for j in range(8):
            bias = 2.5 if j == 3 else 0.0
            rows.append({"entry": f"e{e}", "judge": f"j{j}", "total": base + bias + rng.uniform(-0.3, 0.3)})
    devs = deviations(rows)
    assert max(devs, key=lambda j: devs[j]) == "j3" and outliers(devs) == {"j3"}


def test_publicity_audience_climbs_towards_the_owner_when_too_many() -> None:
    from services.competitions.publicity import audience_orgs

    paths = [[P, CITY, C1, f"{C1}{i:04d}"] for i in range(150)] + [[P, CITY, C2, f"{C2}{i:04d}"] for i in range(100)]
    assert audience_orgs(paths, CITY, limit=250) == sorted(p[-1] for p in paths)  # fits: the entrants themselves
    assert audience_orgs(paths, CITY) == [C1, C2]  # 250 > 200: grouped by county
    assert audience_orgs(paths, CITY, limit=1) == [CITY]  # never above the owner
    assert audience_orgs(paths[:3], CITY) == sorted(p[-1] for p in paths[:3])


def test_working_days_skip_weekends() -> None:
    from datetime import datetime

    from core.clock import TZ

    friday = datetime(2026, 12, 4, 15, 0, tzinfo=TZ)
    ends = add_working_days(friday, 5)
    assert ends == datetime(2026, 12, 12, 0, 0, tzinfo=TZ)  # Mon 7 .. Fri 11, closes at Saturday 00:00
    assert working_days_between(friday, ends) == 5


def test_balance_reaches_plus_minus_one_under_tight_constraints() -> None:
    """Greedy alone can leave judges far apart when eligibility is lopsided; the repair evens them."""
    rng = random.Random(3)
    entries, judges = [f"e{i:03d}" for i in range(300)], [f"j{i:02d}" for i in range(12)]
    banned = {(e, j) for e in entries for j in judges if rng.random() < (0.4 if j < "j04" else 0.02)}
    plan = assign(entries, judges, 5, lambda e, j: (e, j) not in banned)
    loads = plan.loads()
    mean = 300 * 5 / 12
    assert all(abs(n - mean) <= 1 for n in loads.values()), loads
    assert not any((e, j) in banned for e, js in plan.by_entry.items() for j in js)
    assert all(len(set(js)) == 5 for js in plan.by_entry.values())
