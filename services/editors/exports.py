"""Exports editors open in Excel: CSV (UTF-8 with BOM, so Excel shows Chinese) streamed row by row, and .xlsx.

Text that workers typed (survey answers, sign-up forms) may start with `=`, `+`, `-` or `@`; Excel
would run it as a formula (CSV injection), and openpyxl would even store it as one. Such cells get
a leading apostrophe, which Excel shows as plain text.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from core.clock import localize

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FLUSH_ROWS = 500


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return localize(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        value = "、".join(str(cell(v)) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


async def csv_chunks(rows: Iterable[list[Any]] | AsyncIterable[list[Any]]) -> AsyncIterator[str]:
    """The CSV text in chunks of a few hundred rows: the handler writes and flushes each."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    n = 0

    async def each() -> AsyncIterator[list[Any]]:
        if isinstance(rows, AsyncIterable):
            async for row in rows:
                yield row
        else:
            for row in rows:
                yield row

    async for row in each():
        writer.writerow([cell(v) for v in row])
        n += 1
        if n % FLUSH_ROWS == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title=title[:31])
        for i, row in enumerate(rows):
            values = [cell(v) for v in row]
            if i == 0:
                header = []
                for v in values:
                    c = WriteOnlyCell(sheet, value=v)
                    c.font = Font(bold=True)
                    header.append(c)
                sheet.append(header)
            else:
                sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    """The workbook, built off the event loop (openpyxl is CPU work)."""
    return await asyncio.to_thread(_xlsx, sheets)


def disposition(filename: str) -> str:
    """Content-Disposition with the Chinese name for browsers and an ASCII fallback for old ones."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
