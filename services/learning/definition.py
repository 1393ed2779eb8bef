"""A course as editors define it: checked input in, typed `Course` / `Unit` out.

A course has units in the order learners take them: `video` (a self-hosted URL and its duration in
seconds), `article` (a body of text) and `quiz` (a bank of survey-engine questions, single or multiple
choice, each with its right answer; every attempt draws `draw` of them; passed at `pass_score` %).
The course is passed when every unit is done (a quiz unit is done once passed); it then earns its
`credit_hours` (学时) in the learner's ledger and a certificate.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadInput
from services.surveys.questions import InvalidDefinition, normalize_questions

KINDS = {"video": "视频", "article": "图文", "quiz": "测验"}
QUIZ_TYPES = ("single", "multiple")
UNIT_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
URL = re.compile(r"^https?://[^\s]{3,500}$")
MAX_UNITS = 50
MAX_VIDEO_S = 6 * 3600
MAX_ARTICLE = 50_000


@dataclass(frozen=True)
class Unit:
    id: str
    kind: str
    title: str
    url: str = ""
    duration_s: int = 0
    body: str = ""
    bank: list[dict[str, Any]] = field(default_factory=list)  # survey-engine questions
    key: dict[str, Any] = field(default_factory=dict)  # question id -> right option id or ids
    draw: int = 0
    pass_score: int = 0

    def public(self) -> dict[str, Any]:
        """What a learner sees of the unit (never the quiz bank or its answers)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "title": self.title}
        if self.kind == "video":
            out |= {"url": self.url, "duration_s": self.duration_s}
        elif self.kind == "article":
            out["body"] = self.body
        else:
            out |= {"questions": self.draw, "pass_score": self.pass_score, "max_attempts": 3}
        return out


@dataclass(frozen=True)
class Course:
    id: str
    org: str
    org_path: tuple[str, ...]
    title: str
    description: str
    credit_hours: float
    members_only: bool
    status: str  # draft | published | closed
    units: tuple[Unit, ...]

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)


def course_from_doc(doc: dict[str, Any]) -> Course:
    units = tuple(
        Unit(
            id=u["id"], kind=u["kind"], title=u["title"], url=u.get("url", ""), duration_s=int(u.get("duration_s", 0)),
            body=u.get("body", ""), bank=list(u.get("bank", [])), key=dict(u.get("key", {})),
            draw=int(u.get("draw", 0)), pass_score=int(u.get("pass_score", 0)),
        )
        for u in doc.get("units", [])
    )  # fmt: skip
    return Course(
        id=str(doc["_id"]), org=doc["org"], org_path=tuple(doc["org_path"]), title=doc["title"],
        description=doc.get("description", ""), credit_hours=float(doc.get("credit_hours", 0)),
        members_only=bool(doc.get("members_only")), status=doc.get("status", "draft"), units=units,
    )  # fmt: skip


def _text(raw: Any, label: str, max_len: int, code: str, required: bool = True) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or (required and not raw.strip()) or len(raw.strip()) > max_len:
        raise BadInput(f"{label}不能为空，且不超过 {max_len} 字", code=code)
    return raw.strip()


def _int(raw: Any, label: str, lo: int, hi: int, code: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise BadInput(f"{label}应为 {lo} 到 {hi} 之间的整数", code=code)
    return raw


def _quiz(raw: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        bank = normalize_questions(raw.get("questions"), types=QUIZ_TYPES)
    except InvalidDefinition as exc:
        raise BadInput(f"{where}题库：{exc.message}", code="invalid_quiz") from None
    key: dict[str, Any] = {}
    for q, src in zip(bank, raw["questions"], strict=True):
        options = {o["id"] for o in q["options"]}
        answer = src.get("answer")
        if q["type"] == "single" and isinstance(answer, str) and answer in options:
            key[q["id"]] = answer
        elif q["type"] == "multiple" and isinstance(answer, list) and answer and set(answer) <= options:
            key[q["id"]] = sorted(set(answer))
        else:
            raise BadInput(f"{where}题目「{q['title']}」缺少正确答案（answer：选项 id 或其列表）", code="invalid_quiz")
    draw = _int(raw.get("draw", len(bank)), f"{where}每次抽题数", 1, len(bank), "invalid_quiz")
    score = _int(raw.get("pass_score", 60), f"{where}及格分", 1, 100, "invalid_quiz")
    return {"bank": bank, "key": key, "draw": draw, "pass_score": score}


def _unit(raw: Any, i: int, seen: set[str]) -> dict[str, Any]:
    where = f"第 {i} 个单元"
    if not isinstance(raw, dict):
        raise BadInput(f"{where}应为对象", code="invalid_unit")
    uid = raw.get("id") or secrets.token_hex(4)
    if not isinstance(uid, str) or not UNIT_ID.match(uid) or uid in seen:
        raise BadInput(f"{where}的 id 应为 1 到 16 位字母、数字、- 或 _，且不能重复", code="invalid_unit")
    seen.add(uid)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise BadInput(f"{where}的类型应为 video（视频）、article（图文）或 quiz（测验）", code="invalid_unit")
    out: dict[str, Any] = {
        "id": uid,
        "kind": kind,
        "title": _text(raw.get("title"), f"{where}标题", 100, "invalid_unit"),
    }
    if kind == "video":
        url = raw.get("url")
        if not isinstance(url, str) or not URL.match(url):
            raise BadInput(f"{where}的视频地址应为 http(s) 开头的链接（本平台托管的视频）", code="invalid_unit")
        out["url"] = url
        out["duration_s"] = _int(raw.get("duration_s"), f"{where}视频时长（秒）", 10, MAX_VIDEO_S, "invalid_unit")
    elif kind == "article":
        out["body"] = _text(raw.get("body"), f"{where}正文", MAX_ARTICLE, "invalid_unit")
    else:
        out |= _quiz(raw, where)
    return out


def check_course(raw: Any) -> dict[str, Any]:
    """The stored fields of a course definition (title, description, credit, units ...), or BadInput."""
    if not isinstance(raw, dict):
        raise BadInput("课程应为 JSON 对象", code="invalid_course")
    hours = raw.get("credit_hours")
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 100:
        raise BadInput("学时应为 0 到 100 之间的数（可带一位小数）", code="invalid_credit")
    units = raw.get("units")
    if not isinstance(units, list) or not 1 <= len(units) <= MAX_UNITS:
        raise BadInput(f"课程应包含 1 到 {MAX_UNITS} 个单元", code="invalid_unit")
    seen: set[str] = set()
    members_only = raw.get("members_only", False)
    if not isinstance(members_only, bool):
        raise BadInput("members_only 应为 true 或 false", code="invalid_course")
    return {
        "title": _text(raw.get("title"), "课程名称", 60, "invalid_title"),
        "description": _text(raw.get("description"), "课程简介", 2000, "invalid_course", required=False),
        "credit_hours": round(float(hours), 1),
        "members_only": members_only,
        "units": [_unit(u, i, seen) for i, u in enumerate(units, 1)],
    }
