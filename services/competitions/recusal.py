"""Recusal along the org tree: which judge may never see which entry.

Both an entry and a judge's affiliation are org paths (province ... org, as `orgs.path` stores them).
Only the part *below the competition's owner org* matters: every org in a city competition sits under
the city, so comparing whole paths would recuse everybody from everything.

Definition. Let O be the owner org and, for a path P, `below(P)` the part of P after O
(empty when O is not on P, or O is P's last element). An entry path E and an affiliation A
**intersect** when `below(E)` and `below(A)` are both non-empty and one is a prefix of the other,
i.e. one org is an ancestor-or-self of the other, strictly below O. Consequences:

- a judge from county C is recused from every entry of C and of any enterprise under C, and a judge
  from an enterprise under C from an entry that is C's own team (ancestor of the judge);
- a judge from a sibling county, from the owner org itself, from above it (the province's staff in a
  city competition) or from another city is not recused by the tree (declared conflicts still apply).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def below(path: Sequence[str], owner: str) -> tuple[str, ...]:
    """The part of `path` strictly under `owner`; empty when `owner` is not on the path."""
    if owner not in path:
        return ()
    return tuple(path[list(path).index(owner) + 1 :])


def intersects(entry_path: Sequence[str], affiliation: Sequence[str], owner: str) -> bool:
    """True when one path is an ancestor-or-self of the other below `owner` (see the module docstring)."""
    e, a = below(entry_path, owner), below(affiliation, owner)
    if not e or not a:
        return False
    n = min(len(e), len(a))
    return e[:n] == a[:n]


def may_judge(
    entry_id: str,
    entry_path: Sequence[str],
    affiliations: Iterable[Sequence[str]],
    conflicts: Iterable[str],
    owner: str,
) -> bool:
    """A judge may be assigned an entry: no affiliation intersects it and no conflict was declared with it."""
    if entry_id in set(conflicts):
        return False
    return not any(intersects(entry_path, a, owner) for a in affiliations)
