"""Lottery draw figures: 10^6 entries drawn (sort, Merkle root, seed, order) and verified, timed.

    make bench-lottery

The draw runs once per lottery on the console's request; what matters is that a province-wide
lottery with a million entries is drawn and independently recomputed within seconds.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.lotteries import draw  # noqa: E402
from tools import verify_draw  # noqa: E402


def run(n: int, prizes: int, reserves: int) -> tuple[float, float, float, float, bool]:
    codes = [draw.new_code() for _ in range(n)]
    server_seed = draw.new_server_seed()
    beacon = hashlib.sha256(b"beacon").hexdigest()
    t0 = time.perf_counter()
    codes = sorted(set(codes))
    t1 = time.perf_counter()
    root = draw.merkle_root(codes)
    t2 = time.perf_counter()
    order = draw.draw_order(codes, draw.draw_seed(server_seed, beacon, root), prizes + reserves)
    tiers = [("奖品", prizes)]
    won = draw.winners(order, set(), tiers)
    t3 = time.perf_counter()
    pub = {
        "commitment": draw.commitment(server_seed), "server_seed": server_seed,
        "beacon": {"kind": "manual", "value": beacon}, "merkle_root": root, "entries": codes,
        "tiers": [{"name": "奖品", "count": prizes}], "order": order, "disqualified": [],
        "winners": [{"tier": t, "code": c} for t, c in won],
    }  # fmt: skip
    ok = verify_draw.verify(pub) == []
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3, ok


def main() -> None:
    print(f"{'entries':>10} {'prizes':>7} {'sort s':>7} {'merkle s':>9} {'order s':>8} {'draw total s':>13} "
          f"{'verify s':>9} {'verified':>9}")  # fmt: skip
    for n, prizes in ((100_000, 100), (1_000_000, 1_000)):
        sort_s, merkle_s, order_s, verify_s, ok = run(n, prizes, prizes)
        total = sort_s + merkle_s + order_s
        print(f"{n:>10} {prizes:>7} {sort_s:>7.2f} {merkle_s:>9.2f} {order_s:>8.2f} {total:>13.2f} "
              f"{verify_s:>9.2f} {'100 %' if ok else 'FAILED':>9}")  # fmt: skip


if __name__ == "__main__":
    main()
