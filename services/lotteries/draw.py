"""The draw itself: commitment, Merkle root, seed and winner order. Pure and stdlib-only.

Why this shape: nobody may choose the outcome. The server commits to `server_seed` (publishing
SHA-256 of it) before anyone enters; the entries are frozen and their Merkle root published at close,
together with the name of a public random value nobody knows yet (a future drand round, or a lottery
draw number). The seed only exists once all three are fixed:

    seed = SHA-256(server_seed ‖ beacon ‖ root)

Randomness is a SHA-256 counter stream over the seed; `uniform(n)` takes 64-bit words and rejects the
top partial range (no modulo bias); the order is a Fisher–Yates shuffle of the sorted entry codes,
computed only as far as needed (the first k positions never depend on how many more are computed,
so the reserves of the 公示 period are simply the next positions of the same order).

`tools/verify_draw.py` re-implements this independently (a verifier must not trust our code).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence

ALGORITHM = "sha256(server_seed||beacon||merkle_root); sha256(seed||counter64be) stream; u64 rejection; fisher-yates"
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: people read these aloud
CODE_LENGTH = 10  # 50 bits: collisions are refused and retried, never merged


def new_server_seed() -> str:
    return secrets.token_hex(32)


def commitment(server_seed_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(server_seed_hex)).hexdigest()


def new_code() -> str:
    x = int.from_bytes(secrets.token_bytes(7), "big")  # 56 random bits, 5 per character (32 symbols)
    return "".join(CODE_ALPHABET[(x >> (5 * i)) & 31] for i in range(CODE_LENGTH))


def _leaf(code: str) -> bytes:
    return hashlib.sha256(b"\x00" + code.encode("ascii")).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(sorted_codes: Sequence[str]) -> str:
    """Root over the sorted codes (leaf = H(0x00‖code), node = H(0x01‖l‖r), an odd last node moves up)."""
    if not sorted_codes:
        return hashlib.sha256(b"").hexdigest()
    level = [_leaf(c) for c in sorted_codes]
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def merkle_proof(sorted_codes: Sequence[str], index: int) -> list[tuple[str, str]]:
    """Sibling hashes from leaf to root: ("L"|"R", hex) — the side the sibling sits on."""
    level = [_leaf(c) for c in sorted_codes]
    proof: list[tuple[str, str]] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(("L" if sibling < index else "R", level[sibling].hex()))
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, index = nxt, index // 2
    return proof


def verify_proof(code: str, proof: Sequence[tuple[str, str]], root_hex: str) -> bool:
    h = _leaf(code)
    for side, sibling in proof:
        h = _node(bytes.fromhex(sibling), h) if side == "L" else _node(h, bytes.fromhex(sibling))
    return h.hex() == root_hex


def draw_seed(server_seed_hex: str, beacon: str, root_hex: str) -> bytes:
    """The beacon is used as published text (drand: its randomness hex; a lottery: its winning numbers)."""
    data = bytes.fromhex(server_seed_hex) + beacon.encode("utf-8") + bytes.fromhex(root_hex)
    return hashlib.sha256(data).digest()


class SeedStream:
    """Unbiased integers from SHA-256(seed ‖ counter) blocks."""

    def __init__(self, seed: bytes) -> None:
        self._words = self._gen(seed)

    @staticmethod
    def _gen(seed: bytes) -> Iterator[int]:
        counter = 0
        while True:
            block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
            for i in range(0, 32, 8):
                yield int.from_bytes(block[i : i + 8], "big")

    def uniform(self, n: int) -> int:
        """An integer in [0, n), each with probability exactly 1/n."""
        if n <= 0:
            raise ValueError("n must be positive")
        limit = (1 << 64) - ((1 << 64) % n)  # the largest multiple of n not above 2**64
        while True:
            x = next(self._words)
            if x < limit:
                return x % n


def draw_order(sorted_codes: Sequence[str], seed: bytes, count: int) -> list[str]:
    """The first `count` codes of a Fisher–Yates shuffle of `sorted_codes` driven by `seed`."""
    items = list(sorted_codes)
    n = len(items)
    stream = SeedStream(seed)
    for i in range(min(count, n)):
        j = i + stream.uniform(n - i)
        items[i], items[j] = items[j], items[i]
    return items[: min(count, n)]


def winners(order: Sequence[str], disqualified: set[str], tiers: Sequence[tuple[str, int]]) -> list[tuple[str, str]]:
    """(tier, code) in order: the first eligible codes of the draw order fill the tiers in turn.

    A disqualified winner (an upheld appeal in 公示) is skipped and everyone after moves up one place —
    the same order, never a redraw.
    """
    eligible = iter(c for c in order if c not in disqualified)
    out: list[tuple[str, str]] = []
    for tier, n in tiers:
        for _ in range(n):
            code = next(eligible, None)
            if code is None:
                return out
            out.append((tier, code))
    return out
