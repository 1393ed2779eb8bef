"""Assigning judges to entries: every entry gets its quota, nobody judges where recused, loads balanced.

Deterministic (the same inputs give the same assignment, so a re-run is reproducible and auditable):

1. Greedy, most-constrained entries first (fewest eligible judges, then entry id): each entry takes the
   `quota` eligible judges with the lowest load so far (ties by a stable hash of entry and judge, so
   equal loads do not always favour the same judge).
2. Repair: while the most loaded judge H carries two or more assignments more than some judge, look
   for a chain H -> J1 -> ... -> L along which each entry moves one step (an entry of H goes to J1,
   which is eligible for it and not already on it, an entry of J1 goes to J2 ...) ending at a judge L
   with load <= load(H) - 2 (breadth-first search, an augmenting path as in max-flow). Each move
   lowers H by one and raises L by one; intermediate loads are unchanged.

When balancing is possible at all, the repair ends with every load within one of every other, hence
within ±1 of the mean. If an entry has fewer eligible judges than its quota, `NotEnoughJudges` says which.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


class NotEnoughJudgesError(Exception):
    def __init__(self, entry: str, eligible: int, quota: int) -> None:
        super().__init__(entry)
        self.entry, self.eligible, self.quota = entry, eligible, quota


def _tie(entry: str, judge: str) -> bytes:
    return hashlib.blake2b(f"{entry}\x00{judge}".encode(), digest_size=8).digest()


@dataclass
class Plan:
    by_entry: dict[str, list[str]]
    by_judge: dict[str, set[str]]

    def loads(self) -> dict[str, int]:
        return {j: len(es) for j, es in self.by_judge.items()}


def assign(
    entries: Sequence[str],
    judges: Sequence[str],
    quota: int,
    eligible: Callable[[str, str], bool],
    fixed: Mapping[str, Sequence[str]] | None = None,
) -> Plan:
    """Assign `quota` judges to each entry; `fixed` lists judges already on an entry (they count)."""
    fixed = fixed or {}
    ok = {e: [j for j in judges if eligible(e, j)] for e in entries}
    by_entry: dict[str, list[str]] = {e: list(fixed.get(e, ())) for e in entries}
    by_judge: dict[str, set[str]] = {j: set() for j in judges}
    for e, js in by_entry.items():
        for j in js:
            by_judge.setdefault(j, set()).add(e)
    for e in sorted(entries, key=lambda e: (len(ok[e]), e)):
        need = quota - len(by_entry[e])
        free = [j for j in ok[e] if j not in by_entry[e]]
        if need > len(free):
            raise NotEnoughJudgesError(e, len(ok[e]), quota)
        free.sort(key=lambda j: (len(by_judge[j]), _tie(e, j)))
        for j in free[:need]:
            by_entry[e].append(j)
            by_judge[j].add(e)
    plan = Plan(by_entry, by_judge)
    _balance(plan, judges, {e: set(js) for e, js in ok.items()}, fixed)
    return plan


def _balance(plan: Plan, judges: Sequence[str], ok: dict[str, set[str]], fixed: Mapping[str, Sequence[str]]) -> None:
    movable = {(e, j) for e, js in plan.by_entry.items() for j in js if j not in fixed.get(e, ())}
    while True:
        loads = plan.loads()
        top = max(judges, key=lambda j: (loads[j], j))
        if loads[top] - min(loads[j] for j in judges) <= 1:
            return
        path = _find_chain(plan, judges, ok, movable, top, loads[top] - 2)
        if path is None:
            return  # no chain from the heaviest judge: as balanced as the constraints allow
        for entry, src, dst in path:
            plan.by_entry[entry][plan.by_entry[entry].index(src)] = dst
            plan.by_judge[src].discard(entry)
            plan.by_judge[dst].add(entry)
            movable.discard((entry, src))
            movable.add((entry, dst))


def _find_chain(
    plan: Plan,
    judges: Sequence[str],
    ok: dict[str, set[str]],
    movable: set[tuple[str, str]],
    start: str,
    target_load: int,
) -> list[tuple[str, str, str]] | None:
    """Breadth-first: moves (entry, from, to) leading from `start` to a judge with load <= target_load."""
    prev: dict[str, tuple[str, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        src = queue.popleft()
        for entry in sorted(plan.by_judge[src]):
            if (entry, src) not in movable:
                continue
            on = plan.by_entry[entry]
            for dst in judges:
                if dst in prev or dst in on or dst not in ok[entry]:
                    continue
                prev[dst] = (entry, src)
                if len(plan.by_judge[dst]) <= target_load:
                    chain: list[tuple[str, str, str]] = []
                    node = dst
                    while (step := prev[node]) is not None:
                        chain.append((step[0], step[1], node))
                        node = step[1]
                    return chain[::-1]
                queue.append(dst)
    return None
