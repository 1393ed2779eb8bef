"""Roster files as editors produce them: CSV (UTF-8 or GBK) and Excel .xlsx."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook


def csv_bytes(rows: list[list[Any]], encoding: str = "utf-8-sig") -> bytes:
    return "\r\n".join(",".join(str(c) for c in r) for r in rows).encode(encoding)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


HEADER = ["会员编号", "姓名", "手机号", "工会编码"]
ROSTER = [
    HEADER,
    ["JN0001", "张三", "13800138000", "370102001001"],
    ["JN0002", "李四", "13900139000", "370102"],
    ["JN0003", "王五", "13700137000", ""],
    ["JN0004", "阿依古丽·买买提", "13600136000", "370100"],
    ["JN0005", "赵六", "", "370116"],
]
