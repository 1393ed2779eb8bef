"""A tiny valid PNG that looks like a QR code (no image library needed).

It is not a scannable QR code: the pattern is derived from the ticket so different tickets give
different images, and the three finder squares make it recognisable in a demo.
"""

from __future__ import annotations

import hashlib
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _finder(x: int, y: int, n: int) -> bool | None:
    for fx, fy in ((0, 0), (n - 7, 0), (0, n - 7)):
        if fx <= x < fx + 7 and fy <= y < fy + 7:
            dx, dy = x - fx, y - fy
            ring = min(dx, dy, 6 - dx, 6 - dy)
            return ring != 1
    return None


def qr_like_png(seed: str, modules: int = 25, scale: int = 4, border: int = 2) -> bytes:
    stream = b""
    counter = 0
    while len(stream) * 8 < modules * modules:
        stream += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    dark = []
    for y in range(modules):
        row = []
        for x in range(modules):
            finder = _finder(x, y, modules)
            i = y * modules + x
            row.append(finder if finder is not None else bool(stream[i // 8] >> (i % 8) & 1))
        dark.append(row)
    size = (modules + 2 * border) * scale
    raw = bytearray()
    for py in range(size):
        raw.append(0)  # filter type: none
        my = py // scale - border
        for px in range(size):
            mx = px // scale - border
            on = 0 <= mx < modules and 0 <= my < modules and dark[my][mx]
            raw.append(0 if on else 255)
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )
