"""Largest-remainder splits: parts sum to the total and each is within one of its exact share."""

from __future__ import annotations

from services.coupons.shares import POOL, plan, split


def test_split_sums_exactly_and_gives_remainders_to_the_largest_fractions() -> None:
    assert split(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert split(7, {"a": 50, "b": 30, "c": 20}) == {"a": 4, "b": 2, "c": 1}  # 3.5, 2.1, 1.4
    parts = split(1000, {f"o{i}": i * 7 + 3 for i in range(16)})
    assert sum(parts.values()) == 1000
    whole = sum(i * 7 + 3 for i in range(16))
    assert all(abs(parts[f"o{i}"] - 1000 * (i * 7 + 3) / whole) < 1 for i in range(16))


def test_split_with_empty_orgs_and_nothing_to_split() -> None:
    assert split(5, {"a": 0, "b": 2}) == {"a": 0, "b": 5}
    assert split(0, {"a": 1}) == {"a": 0}
    assert split(3, {"a": 0}) == {"a": 0}


def test_plan_splits_waves_then_buckets_and_gives_direct_members_the_pool() -> None:
    alloc = plan(10, [1, 1], {"x": 3, "y": 1}, direct=1)
    assert sum(alloc.values()) == 10
    assert alloc == {"1:x": 3, "1:y": 1, f"1:{POOL}": 1, "2:x": 3, "2:y": 1, f"2:{POOL}": 1}
    nobody = plan(4, [1], {"x": 0}, direct=0)
    assert nobody == {"1:x": 0, f"1:{POOL}": 4}
