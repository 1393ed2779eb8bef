"""The frozen entry codes of a closed lottery, sorted: from Redis while it holds them (a million codes in
about a second), else from MongoDB. Callers that draw check them against the published Merkle root.
`cached_codes` keeps the last two lotteries' codes per process for what workers read (proofs, the
publication): they never change once frozen, and a million-entry list should not be rebuilt per request."""

from __future__ import annotations

from core.deps import Deps, Slot
from services.lotteries import live, store

CODES = Slot[dict[str, list[str]]]("lotteries.codes")  # lottery id -> its frozen entry codes


async def sorted_codes(deps: Deps, lottery_id: str) -> list[str]:
    codes = await live.closed_codes(deps, lottery_id)
    return sorted(codes) if codes is not None else await store.sorted_codes(deps.db, lottery_id)


async def cached_codes(deps: Deps, lottery_id: str) -> list[str]:
    cache: dict[str, list[str]] = deps.get_or_make(CODES, dict)
    if lottery_id not in cache:
        codes = await sorted_codes(deps, lottery_id)
        while len(cache) >= 2:
            cache.pop(next(iter(cache)))
        cache[lottery_id] = codes
    return cache[lottery_id]
