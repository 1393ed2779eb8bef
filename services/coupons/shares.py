"""Fair shares: the largest-remainder split used for waves (stock over waves) and buckets (over sub-orgs).

`split(total, weights)` gives each key floor(total * w / W) and hands the remaining units to the
largest fractional parts (ties: the larger weight, then the key), so the parts always sum to
`total` exactly and no key is more than one unit away from its exact share.
"""

from __future__ import annotations

from collections.abc import Mapping

POOL = "_pool"


def split(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    positive = {k: w for k, w in weights.items() if w > 0}
    whole = sum(positive.values())
    if total <= 0 or whole <= 0:
        return {k: 0 for k in weights}
    parts = {k: total * w // whole for k, w in positive.items()}
    rest = total - sum(parts.values())
    order = sorted(positive, key=lambda k: (-(total * positive[k] % whole), -positive[k], k))
    for k in order[:rest]:
        parts[k] += 1
    return {k: parts.get(k, 0) for k in weights}


def plan(stock: int, wave_shares: list[int], members: Mapping[str, int], direct: int) -> dict[str, int]:
    """The alloc hash: "<wave>:<bucket>" -> coupons, for waves numbered from 1.

    Each wave's share of the stock is split over the sub-orgs by member count; the members who sit
    directly in the batch's org (in no sub-org) count toward the common pool's part.
    """
    per_wave = split(stock, {str(i + 1): s for i, s in enumerate(wave_shares)})
    alloc: dict[str, int] = {}
    for wave, amount in per_wave.items():
        parts = split(amount, {**members, POOL: direct})
        if sum(parts.values()) == 0:  # nobody in the audience yet: everything goes to the pool
            parts = {**{k: 0 for k in members}, POOL: amount}
        for bucket, n in parts.items():
            alloc[f"{wave}:{bucket}"] = n
    return alloc
