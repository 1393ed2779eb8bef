"""Importing the union roster from CSV or Excel: per-row errors in Chinese, idempotent upsert by member number.

Editors export rosters from all sorts of systems, so the reader is forgiving where it can be (Chinese or
English headers, GBK or UTF-8 CSV, numbers that Excel turned into floats) and precise where it must be:
each refused row is reported with its row number, column and what to fix. Valid rows are upserted even
when others are refused (re-importing the corrected file is safe: the same member number updates the
same member); `dry_run=True` only checks.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from core.deps import Deps
from core.errors import BadInput, NotFound
from services.members import store as members
from services.members.binding import (
    MEMBER_NO,
    PHONE,
    normalize_birth_md,
    normalize_member_no,
    normalize_name,
    normalize_phone,
)
from services.orgs import store as orgs

MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024
BATCH = 1_000

# Accepted header names (after trimming and lower-casing) for each field.
HEADERS: dict[str, tuple[str, ...]] = {
    "member_no": ("会员编号", "会员号", "会员证号", "编号", "member_no", "member number"),
    "name": ("姓名", "会员姓名", "name"),
    "phone": ("手机号", "手机号码", "手机", "联系电话", "电话", "phone", "mobile"),
    "org": ("工会编码", "所属工会编码", "组织编码", "工会代码", "org", "org_code"),
    "birth_md": ("生日", "出生月日", "生日（月-日）", "birthday", "birth_md"),  # optional, month-day only
}
COLUMN_NAMES = {"member_no": "会员编号", "name": "姓名", "phone": "手机号", "org": "工会编码", "birth_md": "生日"}


@dataclass(frozen=True)
class RowError:
    row: int  # as the editor sees it in Excel: the header is row 1
    column: str  # the column's Chinese name, or "" for the whole row
    message: str


@dataclass(frozen=True)
class RowChange:
    """What an import did to one member: inserted, or updated with (field, before, after) per changed field."""

    member_no: str
    kind: str  # "inserted" | "updated"
    name: str
    fields: tuple[tuple[str, str, str], ...] = ()


@dataclass
class ImportReport:
    total: int = 0  # data rows read (blank rows skipped)
    valid: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)  # rows that changed something, unchanged ones left out
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _cell(value: Any) -> str:
    """Excel gives 13800138000.0 or 1.38e10 for numbers typed into cells; we want the digits."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(file_bytes: bytes, filename: str) -> list[list[str]]:
    name = filename.lower()
    if len(file_bytes) > MAX_BYTES:
        raise BadInput("文件超过 20MB，请拆分后分批导入", code="file_too_large")
    if name.endswith(".xlsx"):
        return _read_xlsx(file_bytes)
    if name.endswith(".csv") or name.endswith(".txt"):
        return _read_csv(file_bytes)
    if name.endswith(".xls"):
        raise BadInput("不支持旧版 .xls 文件，请在 Excel 中“另存为” .xlsx 或 CSV 后再导入", code="unsupported_file")
    raise BadInput("只支持 .xlsx 或 .csv 文件", code="unsupported_file")


def _read_xlsx(file_bytes: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        book = load_workbook(io.BytesIO(file_bytes), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise BadInput("无法读取该 Excel 文件，请确认文件未损坏且为 .xlsx 格式", code="unreadable_file") from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for values in sheet.iter_rows(values_only=True):
            rows.append([_cell(v) for v in values])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _read_csv(file_bytes: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = file_bytes.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BadInput("无法识别 CSV 文件的编码，请另存为 UTF-8 编码的 CSV", code="unreadable_file")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect)]


def _map_header(header: list[str]) -> dict[str, int]:
    wanted = {alias.lower(): key for key, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for i, title in enumerate(header):
        key = wanted.get(re.sub(r"\s+", "", title).lower().lstrip("*"))
        if key and key not in columns:
            columns[key] = i
    missing = [COLUMN_NAMES[k] for k in ("member_no", "name") if k not in columns]
    if missing:
        raise BadInput(
            f"第 1 行缺少表头：{'、'.join(missing)}（需要“会员编号”“姓名”，可选“手机号”“工会编码”）", code="bad_header"
        )
    return columns


async def import_roster(
    deps: Deps, org_code: str, file_bytes: bytes, filename: str, *, dry_run: bool = False
) -> ImportReport:
    """Import members into `org_code`'s subtree; rows may name a sub-org in an 工会编码 column."""
    importer = await orgs.get(deps.db, org_code)
    if importer is None:
        raise NotFound(f"工会组织 {org_code} 不存在", code="org_not_found")
    rows = read_rows(file_bytes, filename)
    if not rows or not any(rows[0]):
        raise BadInput("文件是空的：第 1 行应为表头", code="empty_file")
    if len(rows) > MAX_ROWS + 1:
        raise BadInput(f"一次最多导入 {MAX_ROWS} 行，请拆分文件", code="too_many_rows")
    columns = _map_header(rows[0])
    subtree = {code: list(path) for code, path in (await orgs.subtree_paths(deps.db, org_code)).items()}
    report = ImportReport(dry_run=dry_run)
    valid: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, raw in enumerate(rows[1:], start=2):
        if not any(raw):
            continue
        report.total += 1
        row, errors = _check_row(number, raw, columns, org_code, subtree)
        if not errors and row["member_no"] in valid:
            first = valid[row["member_no"]][0]
            errors.append(RowError(number, "会员编号", f"会员编号与第 {first} 行重复"))
        if errors:
            report.errors.extend(errors)
        else:
            valid[row["member_no"]] = (number, row)
    existing = await members.existing_orgs(deps.db, list(valid)) if valid else {}
    accepted: list[dict[str, Any]] = []
    for no, (number, row) in valid.items():
        if no in existing and org_code not in existing[no]:
            report.errors.append(RowError(number, "会员编号", "该会员编号已登记在其他工会，请核对或联系上级工会处理"))
        else:
            accepted.append(row)
    report.errors.sort(key=lambda e: e.row)
    report.valid = len(accepted)
    for start in range(0, len(accepted), BATCH):
        batch = accepted[start : start + BATCH]
        stored = await members.current(deps.db, [r["member_no"] for r in batch])
        report.changes.extend(c for c in (_change(r, stored.get(r["member_no"])) for r in batch) if c)
        if not dry_run:
            inserted, updated = await members.upsert_many(deps.db, batch)
            report.inserted += inserted
            report.updated += updated
    return report


def _change(row: dict[str, Any], before: members.Member | None) -> RowChange | None:
    """The row against the stored member (a dry run shows what an import would change)."""
    if before is None:
        return RowChange(row["member_no"], "inserted", row["name"])
    pairs = (
        ("姓名", before.name, row["name"]),
        ("手机号", before.phone, row["phone"]),
        ("工会", before.org, row["org"]),
    )
    fields = tuple((f, b, a) for f, b, a in pairs if b != a)
    return RowChange(row["member_no"], "updated", row["name"], fields) if fields else None


def _check_row(
    number: int, raw: list[str], columns: dict[str, int], default_org: str, subtree: dict[str, list[str]]
) -> tuple[dict[str, Any], list[RowError]]:
    def get(key: str) -> str:
        i = columns.get(key)
        return raw[i].strip() if i is not None and i < len(raw) else ""

    errors: list[RowError] = []
    no = normalize_member_no(get("member_no"))
    if not no:
        errors.append(RowError(number, "会员编号", "会员编号不能为空"))
    elif not MEMBER_NO.match(no):
        errors.append(RowError(number, "会员编号", f"会员编号“{no[:40]}”格式不正确，应为 4-32 位字母、数字或“-”"))
    name = normalize_name(get("name"))
    if not name:
        errors.append(RowError(number, "姓名", "姓名不能为空"))
    elif len(name) > 40:
        errors.append(RowError(number, "姓名", "姓名过长（最多 40 个字）"))
    phone = ""
    if get("phone"):
        phone = normalize_phone(get("phone"))
        if not PHONE.match(phone):
            errors.append(RowError(number, "手机号", f"手机号“{get('phone')[:20]}”不正确，应为 11 位手机号"))
    org = get("org") or default_org
    if org not in subtree:
        errors.append(RowError(number, "工会编码", f"工会编码“{org[:20]}”不存在或不属于本工会"))
    row = {"member_no": no, "name": name, "phone": phone, "org": org, "org_path": subtree.get(org, [])}
    if get("birth_md"):
        birth_md = normalize_birth_md(get("birth_md"))
        if birth_md is None:
            errors.append(RowError(number, "生日", f"生日“{get('birth_md')[:20]}”不正确，应为 月-日，例如 03-07"))
        row["birth_md"] = birth_md or ""
    return row, errors
