"""The push report CSV goes through the one formula-safe export writer: a reason or any other text that
starts like a formula reaches Excel as text."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from core.deps import Deps
from services.editors import exports as console_exports
from services.pushes import progress as push_progress
from services.pushes.fanout import Fanout
from tests.pushes.conftest import PROVINCE, TEMPLATE, ids, records, seed_followers, send_now, wait_run

HOSTILE = ['=HYPERLINK("http://evil.example","点我")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]


async def test_report_cells_never_start_a_formula(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids = ids("oCsvF", len(HOSTILE))
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, TEMPLATE)
    await wait_run(deps, push_id)
    for (rec_id, _), reason in zip(sorted((await records(deps, push_id)).items()), HOSTILE, strict=True):
        await deps.db.push_deliveries.update_one({"_id": {"$regex": f":{rec_id}$"}}, {"$set": {"reason": reason}})
    text = "".join([part async for part in push_progress.report_csv(deps, push_id, editor_org=PROVINCE)])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    reasons = [r[3] for r in rows[1:]]
    assert sorted(reasons) == sorted("'" + h for h in HOSTILE)
    assert not [c for r in rows for c in r if c.startswith(console_exports.FORMULA_START)]


def test_every_export_uses_the_one_writer() -> None:
    """A second CSV writer is how the push report escaped the formula protection: keep it at one."""
    root = Path(__file__).resolve().parents[2]
    writers = [
        str(path.relative_to(root))
        for folder in ("services", "handlers", "miniprogram_api", "tools", "scheduler", "wechat_bot")
        for path in (root / folder).rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(|Workbook\(", path.read_text(encoding="utf-8"))
    ]
    assert writers == ["services/editors/exports.py"], writers
