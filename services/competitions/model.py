"""What a competition is: kinds, lifecycle, stages, rubric and rules, checked from editors' input.

Every check raises BadInput with a Chinese message naming the field, so the console can show it as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.clock import TZ
from core.errors import BadInput

KINDS = {"labour": "劳动竞赛", "skills": "技能竞赛", "ankang": "安康杯"}
# The lifecycle in order; `draft` waits for 立项 by the owner's parent org.
STATUSES = {
    "draft": "待立项",
    "registration": "报名中",
    "in_progress": "进行中",
    "judging": "评审中",
    "publicity": "公示中",
    "final": "已结束",
}
ORDER = list(STATUSES)
MIN_JUDGES, MIN_PUBLICITY_DAYS = 5, 5
MAX_TEXT = 5000


@dataclass(frozen=True)
class Criterion:
    id: str
    name: str
    weight: int  # relative weight (e.g. percent)
    min: float
    max: float


@dataclass(frozen=True)
class Stage:
    id: str
    name: str
    indicators: tuple[str, ...] = ()  # figures each stage report gives, e.g. 隐患排查数
    quiz_survey: str = ""  # a survey workers answer in this stage (安康杯 safety quiz), checked by admin.create


@dataclass(frozen=True)
class Award:
    name: str
    count: int


@dataclass(frozen=True)
class Rules:
    judges_per_entry: int = MIN_JUDGES
    trim: int = 1  # drop this many highest and lowest totals
    publicity_days: int = MIN_PUBLICITY_DAYS
    awards: tuple[Award, ...] = ()


@dataclass(frozen=True)
class Competition:
    id: str
    org: str
    org_path: tuple[str, ...]
    kind: str
    title: str
    status: str
    registration_deadline: datetime
    stages: tuple[Stage, ...]
    rubric: tuple[Criterion, ...]
    rules: Rules
    publicity_ends_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def criteria(self) -> dict[str, Criterion]:
        return {c.id: c for c in self.rubric}


def _text(value: Any, name: str, limit: int = 60) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= limit:
        raise BadInput(f"请填写{name}（不超过 {limit} 字）", code="invalid_field")
    return text


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
        raise BadInput(f"{name}应为整数", code="invalid_field")
    n = int(value)
    if not low <= n <= high:
        raise BadInput(f"{name}应在 {low} 到 {high} 之间", code="invalid_field")
    return n


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput(f"{name}应为数字", code="invalid_field")
    try:
        return float(value)
    except ValueError:
        raise BadInput(f"{name}应为数字", code="invalid_field") from None


def _list(value: Any, name: str, low: int, high: int) -> list[Any]:
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise BadInput(f"{name}应为 {low} 到 {high} 项", code="invalid_field")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{name}格式不正确", code="invalid_field")
    return value


def parse_time(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=TZ)
    try:
        dt = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        dt = None
    if dt is None:
        raise BadInput(f"{name}应为日期时间，例如 2026-05-01T18:00", code="invalid_field")
    return dt if dt.tzinfo else dt.replace(tzinfo=TZ)


def parse_rubric(value: Any) -> tuple[Criterion, ...]:
    out: list[Criterion] = []
    for i, raw in enumerate(_list(value, "评分标准", 1, 20), 1):
        c = _dict(raw, f"第 {i} 项评分标准")
        low, high = _number(c.get("min", 0), f"第 {i} 项最低分"), _number(c.get("max"), f"第 {i} 项最高分")
        if not 0 <= low < high <= 1000:
            raise BadInput(f"第 {i} 项评分标准的分值范围应满足 0 ≤ 最低分 < 最高分 ≤ 1000", code="invalid_field")
        name = _text(c.get("name"), f"第 {i} 项评分标准名称")
        out.append(Criterion(f"c{i}", name, _int(c.get("weight"), f"第 {i} 项权重", 1, 100), low, high))
    return tuple(out)


def parse_stages(value: Any) -> tuple[Stage, ...]:
    out = []
    for i, raw in enumerate(_list(value, "竞赛阶段", 1, 12), 1):
        s = _dict(raw, f"第 {i} 个阶段")
        indicators = [_text(x, f"第 {i} 个阶段的指标", 30) for x in _list(s.get("indicators", []), "阶段指标", 0, 20)]
        quiz = s.get("quiz_survey", "")
        if not isinstance(quiz, str) or len(quiz) > 40:
            raise BadInput(f"第 {i} 个阶段的知识竞答问卷编号不正确", code="invalid_field")
        out.append(Stage(f"s{i}", _text(s.get("name"), f"第 {i} 个阶段名称"), tuple(indicators), quiz))
    return tuple(out)


def parse_rules(value: Any) -> Rules:
    r = _dict(value if value is not None else {}, "评审规则")
    per_entry = _int(r.get("judges_per_entry", MIN_JUDGES), "每件参赛作品的评委人数", MIN_JUDGES, 30)
    trim = _int(r.get("trim", 1), "去掉最高分和最低分的个数", 0, 3)
    if per_entry < 2 * trim + 1:
        raise BadInput("评委人数不足以去掉最高分和最低分", code="invalid_field")
    days = _int(r.get("publicity_days", MIN_PUBLICITY_DAYS), "公示天数", MIN_PUBLICITY_DAYS, 30)
    awards = []
    for i, raw in enumerate(_list(r.get("awards", []), "奖项设置", 0, 10), 1):
        a = _dict(raw, f"第 {i} 个奖项")
        awards.append(Award(_text(a.get("name"), f"第 {i} 个奖项名称", 20), _int(a.get("count"), "获奖名额", 1, 10000)))
    return Rules(per_entry, trim, days, tuple(awards))


def parse_new(data: dict[str, Any]) -> dict[str, Any]:
    """The stored fields of a new competition (owner and ids are added by the caller from its scope)."""
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadInput("竞赛类型应为 劳动竞赛、技能竞赛 或 安康杯", code="invalid_field")
    rules = parse_rules(data.get("rules"))
    return {
        "kind": kind,
        "title": _text(data.get("title"), "竞赛名称"),
        "description": (data.get("description") or "")[:MAX_TEXT] if isinstance(data.get("description"), str) else "",
        "registration_deadline": parse_time(data.get("registration_deadline"), "报名截止时间"),
        "stages": [
            {"id": s.id, "name": s.name, "indicators": list(s.indicators), "quiz_survey": s.quiz_survey}
            for s in parse_stages(data.get("stages"))
        ],
        "rubric": [c.__dict__ for c in parse_rubric(data.get("rubric"))],
        "rules": {
            "judges_per_entry": rules.judges_per_entry,
            "trim": rules.trim,
            "publicity_days": rules.publicity_days,
            "awards": [a.__dict__ for a in rules.awards],
        },
    }


def from_doc(doc: dict[str, Any]) -> Competition:
    r = doc.get("rules") or {}
    return Competition(
        id=doc["_id"],
        org=doc["org"],
        org_path=tuple(doc["org_path"]),
        kind=doc["kind"],
        title=doc["title"],
        status=doc["status"],
        registration_deadline=doc["registration_deadline"],
        stages=tuple(
            Stage(s["id"], s["name"], tuple(s.get("indicators", [])), s.get("quiz_survey", "")) for s in doc["stages"]
        ),
        rubric=tuple(Criterion(c["id"], c["name"], c["weight"], c["min"], c["max"]) for c in doc["rubric"]),
        rules=Rules(
            r.get("judges_per_entry", MIN_JUDGES),
            r.get("trim", 1),
            r.get("publicity_days", MIN_PUBLICITY_DAYS),
            tuple(Award(a["name"], a["count"]) for a in r.get("awards", [])),
        ),
        publicity_ends_at=doc.get("publicity_ends_at"),
    )
