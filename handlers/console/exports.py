"""Writing exports: CSV streamed in chunks (UTF-8 with BOM), .xlsx as one body."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

import tornado.web

from services.editors import exports as console_exports


async def send_csv(
    handler: tornado.web.RequestHandler, filename: str, rows: Iterable[list[Any]] | AsyncIterable[list[Any]]
) -> None:
    handler.set_header("Content-Type", console_exports.CSV_TYPE)
    handler.set_header("Content-Disposition", console_exports.disposition(filename + ".csv"))
    handler.set_header("Cache-Control", "no-store")
    async for chunk in console_exports.csv_chunks(rows):
        handler.write(chunk)
        await handler.flush()
    handler.finish()


async def send_xlsx(handler: tornado.web.RequestHandler, filename: str, sheets: dict[str, list[list[Any]]]) -> None:
    body = await console_exports.xlsx_bytes(sheets)
    handler.set_header("Content-Type", console_exports.XLSX_TYPE)
    handler.set_header("Content-Disposition", console_exports.disposition(filename + ".xlsx"))
    handler.set_header("Cache-Control", "no-store")
    handler.finish(body)
