"""The draw's figures: an unbiased order, and a published draw anyone can recompute (tools/verify_draw)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from services.lotteries import draw
from tools import verify_draw

# χ² critical values at p = 0.01 (df → value), from the standard table: a statistic below it means p > 0.01.
CHI2_CRIT_001 = {4: 13.277, 9: 21.666, 19: 36.191}


def _chi2(counts: list[int], expected: float) -> float:
    return sum((c - expected) ** 2 / expected for c in counts)


def _publication(n: int, winners: int, reserves: int, disqualify: int = 0) -> dict[str, object]:
    server_seed = draw.new_server_seed()
    codes = sorted({f"C{i:09d}" for i in range(n)})
    root = draw.merkle_root(codes)
    beacon = hashlib.sha256(b"round 42").hexdigest()
    order = draw.draw_order(codes, draw.draw_seed(server_seed, beacon, root), winners + reserves)
    out = set(order[:disqualify])
    tiers = [("一等奖", 1), ("二等奖", winners - 1)]
    return {
        "lottery_id": "t1",
        "commitment": draw.commitment(server_seed),
        "server_seed": server_seed,
        "beacon": {"kind": "manual", "value": beacon},
        "merkle_root": root,
        "entries": codes,
        "tiers": [{"name": t, "count": c} for t, c in tiers],
        "order": order,
        "disqualified": [{"code": c, "reason": "申诉成立"} for c in sorted(out)],
        "winners": [{"tier": t, "code": c} for t, c in draw.winners(order, out, tiers)],
    }


def test_first_place_is_uniform_over_100k_simulated_draws() -> None:
    codes = [f"E{i}" for i in range(10)]
    counts = dict.fromkeys(codes, 0)
    runs = 100_000
    for k in range(runs):
        seed = hashlib.sha256(k.to_bytes(8, "big")).digest()
        counts[draw.draw_order(codes, seed, 1)[0]] += 1
    stat = _chi2(list(counts.values()), runs / 10)
    assert stat < CHI2_CRIT_001[9], (stat, counts)


def test_ordered_pairs_are_uniform_for_a_small_draw() -> None:
    """Fisher–Yates must give every ordered (1st, 2nd) pair of 5 the same chance: 20 cells, df 19."""
    codes = ["A", "B", "C", "D", "E"]
    counts: dict[tuple[str, str], int] = {}
    runs = 100_000
    for k in range(runs):
        first, second = draw.draw_order(codes, hashlib.sha256(b"p" + k.to_bytes(8, "big")).digest(), 2)
        counts[(first, second)] = counts.get((first, second), 0) + 1
    assert len(counts) == 20
    stat = _chi2(list(counts.values()), runs / 20)
    assert stat < CHI2_CRIT_001[19], stat


def test_uniform_rejects_the_partial_range() -> None:
    """With n = 3·2^62 the top quarter of 64-bit words must be rejected, not folded onto small values."""
    n = 3 << 62
    stream = draw.SeedStream(b"x" * 32)
    values = [stream.uniform(n) for _ in range(20_000)]
    low = sum(v < (1 << 62) for v in values)  # would be ~1/2 with modulo folding, 1/3 without
    assert 0.31 < low / len(values) < 0.355


def test_first_positions_never_depend_on_how_far_the_order_is_computed() -> None:
    codes = [f"X{i:03d}" for i in range(500)]
    seed = b"s" * 32
    assert draw.draw_order(codes, seed, 500)[:20] == draw.draw_order(codes, seed, 20)


def test_merkle_proof_shows_an_entry_is_in_the_root() -> None:
    codes = sorted(draw.new_code() for _ in range(37))
    root = draw.merkle_root(codes)
    for i in (0, 17, 36):
        assert draw.verify_proof(codes[i], draw.merkle_proof(codes, i), root)
    assert not draw.verify_proof("NOTENTERED", draw.merkle_proof(codes, 3), root)


def test_verify_script_recomputes_every_winner_of_100k_entries(tmp_path: Path) -> None:
    started = time.perf_counter()
    pub = _publication(100_000, winners=100, reserves=20, disqualify=3)
    assert time.perf_counter() - started < 10  # 10^6 in bench/lottery_draw.py
    assert verify_draw.verify(pub) == []
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(pub, ensure_ascii=False))
    # As a stranger would run it: a separate interpreter, only the file.
    run = subprocess.run([sys.executable, "-m", "tools.verify_draw", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all 100 winners recomputed" in run.stdout


def test_verify_script_catches_a_changed_winner_or_seed() -> None:
    pub = _publication(1_000, winners=5, reserves=5)
    winners = list(pub["winners"])  # type: ignore[call-overload]
    winners[2] = {"tier": "二等奖", "code": pub["order"][7]}  # type: ignore[index]
    assert "published winners differ from the recomputed winners" in verify_draw.verify(pub | {"winners": winners})
    other_seed = draw.new_server_seed()
    assert "server_seed does not match the commitment" in verify_draw.verify(pub | {"server_seed": other_seed})
    assert any("merkle root" in p for p in verify_draw.verify(pub | {"entries": pub["entries"][1:]}))  # type: ignore[index]
