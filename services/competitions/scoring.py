"""Scores to results, as pure functions over the raw score rows (so a result can always be rebuilt).

A judge's row holds one value per rubric criterion. The judge's total is the weighted sum
`sum(weight_c * value_c) / sum(weights)` (weights are relative, e.g. percentages). An entry's result is
the trimmed mean of its judges' totals: the rule's `trim` highest and `trim` lowest totals are dropped
(one each by default) and the rest averaged. Arithmetic is exact (Fraction over the decimal strings of
the values) and rounded once at the end, so the same rows always give the same number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from services.competitions.model import Criterion

PLACES = 4


def _exact(value: float | int) -> Fraction:
    return Fraction(str(value))


def judge_total(rubric: Sequence[Criterion], values: Mapping[str, float | int]) -> Fraction:
    weights = sum(c.weight for c in rubric)
    return sum((c.weight * _exact(values[c.id]) for c in rubric), Fraction(0)) / weights


def trimmed_mean(totals: Sequence[Fraction], trim: int) -> Fraction:
    kept = sorted(totals)[trim : len(totals) - trim] if trim else sorted(totals)
    return sum(kept, Fraction(0)) / len(kept)


@dataclass(frozen=True)
class EntryResult:
    entry: str
    score: float | None  # None until the entry has enough scores for its rule
    judges: int  # scores counted (voided ones excluded)


def entry_result(
    entry: str, rubric: Sequence[Criterion], rows: Sequence[Mapping[str, float | int]], *, min_judges: int, trim: int
) -> EntryResult:
    """The result of one entry from its counted score rows (each row: criterion id -> value)."""
    if len(rows) < max(min_judges, 2 * trim + 1):
        return EntryResult(entry, None, len(rows))
    mean = trimmed_mean([judge_total(rubric, r) for r in rows], trim)
    return EntryResult(entry, round(float(mean), PLACES), len(rows))


def ranks(scores: Mapping[str, float | None]) -> dict[str, int]:
    """Competition ranking (1, 2, 2, 4 ...): equal scores share a rank; unscored entries are left out."""
    ordered = sorted(((s, e) for e, s in scores.items() if s is not None), key=lambda t: (-t[0], t[1]))
    out: dict[str, int] = {}
    for i, (s, e) in enumerate(ordered):
        out[e] = out[ordered[i - 1][1]] if i and ordered[i - 1][0] == s else i + 1
    return out
