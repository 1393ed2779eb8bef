"""The frozen entry codes of a closed lottery, sorted: from Redis while it holds them (a million codes in
about a second), else from MongoDB. Callers that draw check them against the published Merkle root."""

from __future__ import annotations

from core.deps import Deps
from services.lotteries import live, store


async def sorted_codes(deps: Deps, lottery_id: str) -> list[str]:
    codes = await live.closed_codes(deps, lottery_id)
    return sorted(codes) if codes is not None else await store.sorted_codes(deps.db, lottery_id)
