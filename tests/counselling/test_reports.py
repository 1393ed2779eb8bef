"""Editors' reports: no number shown or derivable covers fewer than 5 people (random data, many seeds)."""

from __future__ import annotations

import random
from datetime import timedelta

from core.clock import now
from core.deps import Deps
from services.counselling import reports
from services.counselling.reports import OWN_ROW, K, Record
from services.editors import accounts as editors
from services.editors.scope import Scope

MONTHS = ["2026-01", "2026-02", "2026-03"]
ORGS = [("370000",), ("370000", "370100"), ("370000", "370100", "370102"), ("370000", "370200"),
        ("370000", "370300"), ("370000", "370400"), ("370000", "370500")]  # fmt: skip
STATUSES = ["confirmed", "attended", "no_show", "cancelled", "late_cancelled"]


def random_records(rng: random.Random) -> list[Record]:
    people = [f"p{i}" for i in range(rng.randint(0, 60))]
    home = {p: rng.choice(ORGS) for p in people}  # one org per person
    out = []
    for p in people:
        for _ in range(rng.randint(1, 4)):
            out.append(Record(p, home[p], rng.choice(MONTHS), rng.choice(STATUSES)))
    return out


def people_in(records: list[Record], month: str, group: str | None) -> set[str]:
    return {
        r.member
        for r in records
        if r.month == month and (group is None or reports.group_of(r.org_path, "370000") == group)
    }


def test_no_report_cell_covers_fewer_than_5_people() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        records = random_records(rng)
        out = reports.build(records, "370000", MONTHS)
        for month in MONTHS:
            hidden_people: set[str] = set()
            for row in out["rows"]:
                truth = people_in(records, month, row["org"])
                cell = row["cells"][month]
                if cell is None:
                    hidden_people |= truth
                    continue
                assert cell["people"] == len(truth), (seed, month, row["org"])
                assert not truth or len(truth) >= K, (seed, month, row["org"], cell)
            total = out["totals"][month]
            everyone = people_in(records, month, None)
            if total is not None:
                assert total["people"] == len(everyone) and (not everyone or len(everyone) >= K), (seed, month)
                # total minus the shown cells is what the hidden cells add up to: never under K people
                assert not hidden_people or len(hidden_people) >= K, (seed, month, len(hidden_people))


def test_counts_are_right_when_groups_are_big_enough() -> None:
    records = [Record(f"p{i}", ("370000", "370100", "370102"), "2026-01", "confirmed") for i in range(6)]
    records += [Record(f"q{i}", ("370000", "370100"), "2026-01", "no_show") for i in range(5)]
    out = reports.build(records, "370100", ["2026-01"])
    cells = {row["org"]: row["cells"]["2026-01"] for row in out["rows"]}
    assert cells == {
        OWN_ROW: {"people": 5, "sessions": 0, "cancelled": 0, "no_shows": 5},
        "370102": {"people": 6, "sessions": 6, "cancelled": 0, "no_shows": 0},
    }
    assert out["totals"]["2026-01"] == {"people": 11, "sessions": 6, "cancelled": 0, "no_shows": 5}


async def test_the_report_reads_stored_bookings_of_the_working_org_only(deps: Deps) -> None:
    start = now().replace(day=15, hour=10, minute=0, second=0, microsecond=0)
    docs = []
    for i, path in enumerate([["370000", "370100", "370102"]] * 6 + [["370000", "370200"]] * 7):
        docs.append({
            "_id": f"b{i:014d}", "slot_id": f"s{i}", "counsellor": "c", "member": f"m{i}", "member_org": path[-1],
            "member_org_path": path, "starts_at": start, "ends_at": start + timedelta(minutes=50), "status": "attended",
        })  # fmt: skip
    await deps.db.counselling_bookings.insert_many(docs)
    doc = await editors.create(deps.db, None, {"username": "jn_ed", "name": "济南编辑", "role": "editor",
                                               "org": "370100", "password": "Test-password-2025"})  # fmt: skip
    out = await reports.report(deps, Scope(editors.from_doc(doc), "370100"))
    month = start.strftime("%Y-%m")
    assert [(r["org"], r["cells"][month]) for r in out["rows"]] == [
        ("370102", {"people": 6, "sessions": 6, "cancelled": 0, "no_shows": 0})
    ]  # Qingdao's seven are not in Jinan's report
