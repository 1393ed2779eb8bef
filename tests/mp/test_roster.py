"""Roster import: CSV and Excel, per-row errors in Chinese, idempotent upsert by member number."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import yaml

from core.deps import Deps
from core.errors import BadInput, NotFound
from services.members.roster import import_roster
from tests.mp.roster_files import HEADER, ROSTER, csv_bytes, xlsx_bytes

ROOT = str(Path(__file__).resolve().parents[2])


async def test_xlsx_import_upserts_and_is_idempotent(deps: Deps) -> None:
    report = await import_roster(deps, "370100", xlsx_bytes(ROSTER), "名册.xlsx")
    assert report.ok and (report.total, report.valid, report.inserted, report.updated) == (5, 5, 5, 0)
    doc = await deps.db.members.find_one({"_id": "JN0001"})
    assert doc is not None and doc["org_path"] == ["370000", "370100", "370102", "370102001", "370102001001"]
    assert (await deps.db.members.find_one({"_id": "JN0003"}))["org"] == "370100"  # the importer's org
    again = await import_roster(deps, "370100", xlsx_bytes(ROSTER), "名册.xlsx")
    assert (again.inserted, again.updated) == (0, 5)
    assert await deps.db.members.count_documents({}) == 5


async def test_excel_numbers_and_gbk_csv_are_read(deps: Deps) -> None:
    rows = [["姓名", "会员编号", "手机"], ["张三", 10001234, 13800138000.0]]
    report = await import_roster(deps, "370100", xlsx_bytes(rows), "a.xlsx")
    assert report.ok, report.errors
    assert (await deps.db.members.find_one({"_id": "10001234"}))["phone"] == "13800138000"
    gbk = csv_bytes([HEADER, ["JN0009", "钱七", "+86 138-0013-8009", ""]], encoding="gb18030")
    report = await import_roster(deps, "370100", gbk, "roster.csv")
    assert report.ok and (await deps.db.members.find_one({"_id": "JN0009"}))["name"] == "钱七"


async def test_each_bad_row_is_reported_and_good_rows_still_import(deps: Deps) -> None:
    await import_roster(deps, "370200", csv_bytes([HEADER, ["QD0001", "孙八", "13800000001", ""]]), "qd.csv")
    rows = [
        HEADER,
        ["JN0001", "张三", "13800138000", ""],
        ["JN0002", "", "13900139000", ""],  # 3: missing name
        ["JN0003", "王五", "1380013", ""],  # 4: bad phone
        ["JN0004", "赵六", "13700137000", "379999"],  # 5: unknown org
        ["JN0001", "张三", "13800138000", ""],  # 6: duplicate of row 2
        ["", "无编号", "13700137001", ""],  # 7: missing member number
        ["JN0007", "周九", "13700137002", "370200"],  # 8: another city's org
        ["QD0001", "孙八", "13800000001", ""],  # 9: member number registered in Qingdao
        ["", "", "", ""],  # blank: skipped
        ["JN0010", "吴十", "13700137010", ""],
    ]
    report = await import_roster(deps, "370100", csv_bytes(rows), "jn.csv")
    got = [(e.row, e.column) for e in report.errors]
    assert got == [
        (3, "姓名"), (4, "手机号"), (5, "工会编码"), (6, "会员编号"), (7, "会员编号"), (8, "工会编码"), (9, "会员编号")
    ]  # fmt: skip
    messages = {e.row: e.message for e in report.errors}
    assert messages[3] == "姓名不能为空" and "11 位手机号" in messages[4] and "第 2 行重复" in messages[6]
    assert "其他工会" in messages[9]
    assert report.total == 9 and report.valid == 2 and report.inserted == 2
    assert (await deps.db.members.find_one({"_id": "QD0001"}))["org"] == "370200"  # untouched


async def test_dry_run_writes_nothing(deps: Deps) -> None:
    report = await import_roster(deps, "370100", csv_bytes(ROSTER), "r.csv", dry_run=True)
    assert report.ok and report.valid == 5 and report.inserted == 0
    assert await deps.db.members.count_documents({}) == 0


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "r.csv", "empty_file"),
        (csv_bytes([["编号x", "名字"], ["1", "2"]]), "r.csv", "bad_header"),
        (b"PK\x03\x04 not really a zip", "r.xlsx", "unreadable_file"),
        (b"whatever", "r.xls", "unsupported_file"),
        (b"whatever", "r.pdf", "unsupported_file"),
    ],
)
async def test_unusable_files_are_refused_with_a_reason(deps: Deps, content: bytes, name: str, code: str) -> None:
    with pytest.raises(BadInput) as err:
        await import_roster(deps, "370100", content, name)
    assert err.value.code == code and err.value.message


async def test_unknown_importing_org(deps: Deps) -> None:
    with pytest.raises(NotFound):
        await import_roster(deps, "999999", csv_bytes(ROSTER), "r.csv")


async def test_command_line_import_reports_rows(deps: Deps, mongo_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"cookie_secret": "x"},
        "wechat": {"app_id": "wx", "app_secret": "x", "token": "x"},
        "miniprogram": {"app_id": "wxmp", "app_secret": "x"},
        "mongo": {"url": mongo_url, "db": deps.settings.mongo.db},
    }))  # fmt: skip
    roster = tmp_path / "名册.xlsx"
    roster.write_bytes(xlsx_bytes([*ROSTER, ["JN0099", "", "13800000000", ""]]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.import_roster", "--config", str(config), "--org", "370100", str(roster),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("SDGH_")},
    )  # fmt: skip
    out, err = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 1, err.decode()
    assert "共 6 行，有效 5 行，新增 5" in text and "第 7 行  姓名：姓名不能为空" in text
    assert await deps.db.members.count_documents({}) == 5
