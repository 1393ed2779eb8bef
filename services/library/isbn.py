"""ISBN checks: ISBN-10 and ISBN-13 check digits, hyphens and spaces allowed; everything stored as ISBN-13."""

from __future__ import annotations

import re

_STRIP = re.compile(r"[\s\-]")


def _isbn10_ok(d: str) -> bool:
    if not re.fullmatch(r"[0-9]{9}[0-9X]", d):
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(d))
    return total % 11 == 0


def _isbn13_check(d12: str) -> int:
    return (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(d12)) % 10) % 10


def normalize(raw: str) -> str | None:
    """The ISBN-13 for a valid ISBN-10 or ISBN-13 (any hyphenation), or None when the check digit is wrong."""
    d = _STRIP.sub("", raw or "").upper()
    if len(d) == 10:
        return "978" + d[:9] + str(_isbn13_check("978" + d[:9])) if _isbn10_ok(d) else None
    if re.fullmatch(r"97[89][0-9]{10}", d) and _isbn13_check(d[:12]) == int(d[12]):
        return d
    return None
