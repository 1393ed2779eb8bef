"""A counsellor's weekly availability and the slots generated from it (two weeks ahead).

Rules are `{weekday: 0-6 (Monday 0), start: "HH:MM", end: "HH:MM"}`; a session lasts `slot_minutes`
and the next one starts 10 minutes after it ends (time to breathe and write nothing down: no
session notes are stored). Generation is idempotent: a slot's id is its counsellor and start, new
slots are inserted open, and held or booked slots are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from core.clock import TZ
from core.errors import BadInput

HORIZON_DAYS = 14
BREAK = timedelta(minutes=10)
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Rule:
    weekday: int
    start: time
    end: time

    def as_doc(self) -> dict[str, Any]:
        return {"weekday": self.weekday, "start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


def _time(value: Any, what: str) -> time:
    m = _HHMM.match(value) if isinstance(value, str) else None
    if m is None:
        raise BadInput(f"{what}应为 24 小时制的 时:分，例如 09:30", code="rules")
    return time(int(m.group(1)), int(m.group(2)))


def parse_rules(raw: Any) -> list[Rule]:
    if not isinstance(raw, list) or len(raw) > 50:
        raise BadInput("可预约时间应为列表（最多 50 段）", code="rules")
    rules = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("weekday"), int) or not 0 <= item["weekday"] <= 6:
            raise BadInput("每段可预约时间要选择星期几", code="rules")
        rule = Rule(item["weekday"], _time(item.get("start"), "开始时间"), _time(item.get("end"), "结束时间"))
        if rule.end <= rule.start:
            raise BadInput(f"{WEEKDAYS[rule.weekday]} {rule.start:%H:%M} 的结束时间应晚于开始时间", code="rules")
        rules.append(rule)
    return rules


def rules_from_docs(docs: Any) -> list[Rule]:
    return parse_rules(docs or [])


def check_minutes(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 20 <= value <= 120:
        raise BadInput("每次咨询时长应为 20 到 120 分钟", code="slot_minutes")
    return value


def slot_times(
    rules: list[Rule], minutes: int, first_day: date, days: int = HORIZON_DAYS
) -> list[tuple[datetime, datetime]]:
    """Every session start and end the rules give from `first_day` on, sorted, without duplicates."""
    length = timedelta(minutes=minutes)
    out: set[tuple[datetime, datetime]] = set()
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        for rule in rules:
            if rule.weekday != day.weekday():
                continue
            start = datetime.combine(day, rule.start, TZ)
            stop = datetime.combine(day, rule.end, TZ)
            while start + length <= stop:
                out.add((start, start + length))
                start += length + BREAK
    return sorted(out)


def slot_docs(counsellor: dict[str, Any], after: datetime) -> list[dict[str, Any]]:
    """The slot documents of `counsellor` that start after `after`, within the horizon."""
    rules = rules_from_docs(counsellor.get("rules"))
    minutes = int(counsellor.get("slot_minutes") or 50)
    docs = []
    for start, end in slot_times(rules, minutes, after.astimezone(TZ).date()):
        if start <= after:
            continue
        docs.append({
            "_id": f"{counsellor['_id']}:{start:%Y%m%d%H%M}", "counsellor": counsellor["_id"],
            "org": counsellor["org"], "org_path": counsellor["org_path"], "starts_at": start, "ends_at": end,
            "state": "open",
        })  # fmt: skip
    return docs


_LINE = re.compile(r"^(周[一二三四五六日天])\s*(\d{1,2}:\d{2})\s*[-~－—至到]+\s*(\d{1,2}:\d{2})$")


def rules_from_text(text: str) -> list[dict[str, Any]]:
    """The console form's lines, e.g. "周一 09:00-12:00", as rule documents (checked by parse_rules)."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise BadInput(f"第 {n} 行应写成“周一 09:00-12:00”", code="rules")
        day = "周日" if m.group(1) == "周天" else m.group(1)
        out.append({"weekday": WEEKDAYS.index(day), "start": m.group(2).zfill(5), "end": m.group(3).zfill(5)})
    return out


def rules_as_text(docs: Any) -> str:
    return "\n".join(f"{WEEKDAYS[d['weekday']]} {d['start']}-{d['end']}" for d in docs or [])
