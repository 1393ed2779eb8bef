"""Import a union roster (CSV or .xlsx) into an org's subtree from the command line.

    python -m tools.import_roster --org 370100 名册.xlsx
    python -m tools.import_roster --org 370100 --dry-run 名册.csv     # check only, write nothing

Columns (first row): 会员编号, 姓名, optional 手机号 and 工会编码 (a sub-org; default --org). Re-importing
the same file is safe: a member number updates the same member. Prints a summary and every refused row
(row number as in Excel, column, what to fix); exits 1 when any row was refused. With the embedded
MongoDB (empty mongo.url) stop the service first: the database files belong to one process at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from core.config import ConfigError, load_settings
from core.db import connect_mongo
from core.deps import Deps
from core.embedded import EmbeddedServer, start_mongo
from core.errors import ServiceError
from services.members.roster import import_roster
from storage.indexes import ensure_indexes

MAX_LISTED = 200


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.import_roster", description="导入工会会员名册（CSV 或 Excel）")
    p.add_argument("file", type=Path, help="roster file: .xlsx or .csv (UTF-8 or GBK)")
    p.add_argument("--org", required=True, help="org code importing the roster, e.g. 370100")
    p.add_argument("--config", type=Path, default=Path("config.yaml"), help="path of config.yaml")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    return p


async def _run(args: argparse.Namespace) -> int:
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    settings = load_settings(args.config, os.environ)
    embedded: EmbeddedServer | None = None
    url = settings.mongo.url
    if not url:
        try:
            embedded = await start_mongo(settings.data_path)
        except RuntimeError:
            print("error: cannot open the embedded database: is the service running? Stop it and try again "
                  "(or set mongo.url / SDGH_MONGO_URL).", file=sys.stderr)  # fmt: skip
            return 1
        url = embedded.url
    mongo = connect_mongo(url)
    try:
        db = mongo[settings.mongo.db]
        await ensure_indexes(db)
        from seed import seed_all

        await seed_all(db)
        deps = cast(Deps, SimpleNamespace(db=db))  # the roster import touches MongoDB only
        report = await import_roster(deps, args.org, content, args.file.name, dry_run=args.dry_run)
    except ServiceError as exc:
        print(f"导入失败：{exc.message}", file=sys.stderr)
        return 1
    finally:
        await mongo.close()
        if embedded is not None:
            embedded.stop()
    verb = "检查" if report.dry_run else "导入"
    print(f"{verb}完成：共 {report.total} 行，有效 {report.valid} 行，新增 {report.inserted}，"
          f"更新 {report.updated}，有问题 {len(report.errors)} 处")  # fmt: skip
    for err in report.errors[:MAX_LISTED]:
        print(f"  第 {err.row} 行  {err.column or '-'}：{err.message}")
    if len(report.errors) > MAX_LISTED:
        print(f"  …… 另有 {len(report.errors) - MAX_LISTED} 处问题未列出")
    return 1 if report.errors else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
