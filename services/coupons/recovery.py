"""Rebuilding a batch's live state from MongoDB when Redis lost it (a new or flushed Redis).

Everything the scripts keep can be recomputed from the batch document and its ledger entitlements
(each grant records its bucket and wave): which waves have opened and closed (from the clock), what
each bucket has left in the open wave, what the pool holds (its own allotments + leftovers of closed
waves + revoked coupons − its grants), and who has been served. Grants Redis acknowledged but had not
yet written to MongoDB are lost with Redis itself (its AOF is the guard against that); nothing in
MongoDB is ever granted twice, because the members found there are marked served again.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from typing import Any

from core.deps import Deps
from core.errors import Unavailable
from services.benefits import store as ledger_store
from services.coupons import shares, store
from services.coupons.jobs import live

LETTER = {"held": "h", "revoked": "x"}
WAIT_SECONDS = 5.0


def _ms(dt: Any) -> int:
    return int(dt.timestamp() * 1000)


def plan_state(batch: dict[str, Any], grants: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    """The meta fields, stock hash and served hash that `now_ms` and the stored grants imply."""
    waves = [(_ms(w["opens_at"]), _ms(w["closes_at"])) for w in batch["waves"]]
    opened = sum(1 for s, _ in waves if s <= now_ms)
    closed = sum(1 for s, e in waves[:opened] if e <= now_ms)
    alloc = {k: int(v) for k, v in batch["alloc"].items()}
    taken = Counter((g.get("bucket", ""), int(g.get("wave", 0))) for g in grants)
    got = Counter(str(g.get("bucket", "")) for g in grants)
    stock: dict[str, int] = {}
    pool = sum(alloc.get(f"{j}:{shares.POOL}", 0) for j in range(1, opened + 1))
    pool -= got[shares.POOL]
    pool += sum(1 for g in grants if g["status"] == "revoked")
    for b in batch["buckets"]:
        for j in range(1, opened + 1):
            left = alloc.get(f"{j}:{b}", 0) - taken[(b, j)]
            if j <= closed:
                pool += left
            else:
                stock[b] = left
        stock.setdefault(b, 0)
    stock[shares.POOL] = pool
    for src, n in got.items():
        stock[f"got:{src}"] = n
    stock["_granted"] = len(grants)
    served = {}
    for g in grants:
        letter = LETTER.get(g["status"]) or {"unknown": "u", "pending": "p"}.get(g.get("risk", ""), "g")
        served[g["member_id"]] = f"{letter}\t{g.get('bucket', '')}\t{g.get('wave', 0)}"
    return {"opened": opened, "closed": closed, "stock": stock, "served": served}


async def rebuild(deps: Deps, batch_id: str) -> bool:
    """Reinstall a batch Redis no longer knows; False when MongoDB does not know it either."""
    batch = await store.get_batch(deps.db, batch_id)
    if batch is None:
        return False
    coupons = live(deps)
    owner = secrets.token_hex(8)
    if not await coupons.lock_rebuild(batch_id, owner):
        # another request is rebuilding it: wait for that (a batch rebuilds in well under a second)
        for _ in range(int(WAIT_SECONDS / 0.05)):
            await asyncio.sleep(0.05)
            if await coupons.status(batch_id):
                return True
        raise Unavailable("该批优惠券的数据正在恢复，请稍后重试", code="recovering")
    try:
        if await coupons.status(batch_id):  # another process finished the rebuild meanwhile
            return True
        if await coupons.adopt_legacy(batch_id):  # kept under the previous release's key names
            return True
        grants = await ledger_store.of_source(deps.db, f"cpn:{batch_id}", limit=10_000_000)
        state = plan_state(batch, grants, int(time.time() * 1000))
        waves = [(_ms(w["opens_at"]), _ms(w["closes_at"])) for w in batch["waves"]]
        await coupons.restore(
            batch_id, org=batch["org"], status=batch["status"], waves=waves, buckets=list(batch["buckets"]),
            alloc=batch["alloc"], expire_at=int(batch["expires_at"].timestamp()) + 86400, **state,
        )  # fmt: skip
        return True
    finally:
        await coupons.unlock_rebuild(batch_id, owner)
