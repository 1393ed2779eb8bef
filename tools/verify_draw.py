"""Recompute a lottery draw from its published JSON — anyone can run this; it needs only Python 3.

    python -m tools.verify_draw lottery.json [--code 抽签码]

It re-implements the rules on its own (it imports nothing from the service, so a reader can check
every line here against the rules published with the draw):

1. SHA-256(server_seed) equals the commitment published when the lottery opened;
2. the entry codes are sorted and unique, and their Merkle root (leaf = H(0x00‖code),
   node = H(0x01‖left‖right), an odd last node moves up) equals the root published at close;
3. for a drand beacon, the randomness is SHA-256 of the round's signature;
4. seed = SHA-256(server_seed ‖ beacon value (UTF-8) ‖ root); a SHA-256(seed ‖ counter, 8 bytes
   big-endian) stream of 64-bit words; uniform(n) rejects words ≥ 2^64 − (2^64 mod n);
   a Fisher–Yates shuffle of the sorted codes (position i swaps with i + uniform(n − i));
5. the winners are the first eligible codes of that order filling the prize tiers in turn
   (codes disqualified in 公示 are skipped, the next ones move up).
Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any


def _merkle_root(codes: list[str]) -> str:
    if not codes:
        return hashlib.sha256(b"").hexdigest()
    level = [hashlib.sha256(b"\x00" + c.encode("ascii")).digest() for c in codes]
    while len(level) > 1:
        pairs = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2 == 1:
            pairs.append(level[-1])
        level = pairs
    return level[0].hex()


def _shuffle_prefix(codes: list[str], seed: bytes, count: int) -> list[str]:
    items = list(codes)
    words: list[int] = []
    counter = 0

    def word() -> int:
        nonlocal counter
        if not words:
            block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
            words.extend(int.from_bytes(block[k : k + 8], "big") for k in (24, 16, 8, 0))  # popped from the end
        return words.pop()

    n = len(items)
    for i in range(min(count, n)):
        m = n - i
        limit = 2**64 - (2**64 % m)
        x = word()
        while x >= limit:
            x = word()
        j = i + x % m
        items[i], items[j] = items[j], items[i]
    return items[: min(count, n)]


def verify(pub: dict[str, Any]) -> list[str]:
    """Every failed check, in words; empty when the draw is reproduced exactly."""
    problems: list[str] = []
    seed_hex = pub["server_seed"]
    if hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest() != pub["commitment"]:
        problems.append("server_seed does not match the commitment")
    codes: list[str] = pub["entries"]
    if codes != sorted(set(codes)):
        problems.append("entries are not sorted and unique")
    root = _merkle_root(codes)
    if root != pub["merkle_root"]:
        problems.append(f"merkle root {root} != published {pub['merkle_root']}")
    beacon = pub["beacon"]
    signature = beacon.get("signature") if beacon.get("kind") == "drand" else ""
    if signature and hashlib.sha256(bytes.fromhex(signature)).hexdigest() != beacon["value"]:
        problems.append("drand randomness is not SHA-256 of its signature")
    seed = hashlib.sha256(bytes.fromhex(seed_hex) + beacon["value"].encode("utf-8") + bytes.fromhex(root)).digest()
    order = _shuffle_prefix(codes, seed, len(pub["order"]))
    if order != pub["order"]:
        first = next((i for i, (a, b) in enumerate(zip(order, pub["order"], strict=False)) if a != b), len(order))
        problems.append(f"draw order differs from position {first + 1}")
    out = {d["code"] for d in pub.get("disqualified", [])}
    eligible = [c for c in order if c not in out]
    expected: list[dict[str, str]] = []
    for tier in pub["tiers"]:
        for _ in range(int(tier["count"])):
            if eligible:
                expected.append({"tier": tier["name"], "code": eligible.pop(0)})
    got = [{"tier": w["tier"], "code": w["code"]} for w in pub["winners"]]
    if got != expected:
        problems.append("published winners differ from the recomputed winners")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recompute a published lottery draw")
    parser.add_argument("file", help="the published draw JSON")
    parser.add_argument("--code", help="your 抽签码: shows whether it was in the draw and where")
    args = parser.parse_args(argv)
    with open(args.file, encoding="utf-8") as f:
        pub = json.load(f)
    problems = verify(pub)
    print(f"lottery {pub.get('lottery_id', '?')}: {len(pub['entries'])} entries, {len(pub['winners'])} winners")
    if args.code:
        code = args.code.strip().upper()
        where = pub["order"].index(code) + 1 if code in pub["order"] else None
        print(f"code {code}: {'entered' if code in set(pub['entries']) else 'NOT in the entries'}", end="")
        print(f", draw position {where}" if where else "")
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"OK: all {len(pub['winners'])} winners recomputed from the published data")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
