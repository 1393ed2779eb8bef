"""Questions: checking an editor's definition, and checking a user's answers against it.

Used by surveys (问卷) and by activity sign-up forms (报名表). A question is a dict:

    {"id": "q1", "type": "single"|"multiple"|"text"|"rating"|"matrix", "title": "...", "required": bool,
     "options": [{"id": "a", "label": "..."}],                 # single, multiple
     "min_choices": 0, "max_choices": n,                       # multiple
     "min_length": 0, "max_length": 500, "format": "phone",    # text (format optional)
     "scale_min": 1, "scale_max": 5, "min_label": "", "max_label": "",   # rating
     "rows": [{"id", "label"}], "columns": [{"id", "label"}],  # matrix: one column per row
     "show_if": {"question": "q0", "any_of": ["a"]}}           # skip logic: shown only when an earlier
                                                               # answer matches one of the values

Answers are `{question id: value}`: an option id (single), a list of option ids (multiple), a string
(text), an integer (rating), `{row id: column id}` (matrix). Every refusal is per question, in Chinese.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from core.clock import TZ
from core.errors import BadInput
from services.surveys.answer_formats import TEXT_FORMATS, format_ok

TYPE_NAMES = {"single": "单选题", "multiple": "多选题", "text": "填空题", "rating": "评分题", "matrix": "矩阵题"}
FORM_TYPES = ("single", "multiple", "text", "rating")  # sign-up forms: no matrix
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_QUESTIONS, MAX_OPTIONS, MAX_ROWS, MAX_TEXT = 100, 50, 30, 5000


class InvalidDefinition(BadInput):
    """An editor's survey or form definition is wrong; `errors` says where (question id or field)."""

    code = "invalid_definition"

    def __init__(self, errors: dict[str, str]) -> None:
        first_key, first = next(iter(errors.items()))
        super().__init__(f"{first_key}：{first}" if len(errors) == 1 else f"有 {len(errors)} 处需要修改：{first}")
        self.errors = errors
        self.extra = {"errors": errors}


class InvalidAnswers(BadInput):
    """A user's answers break the questions' rules; `errors` maps question id -> what to fix."""

    code = "invalid_answers"

    def __init__(self, errors: dict[str, str], numbers: dict[str, int]) -> None:
        qid, first = next(iter(errors.items()))
        where = f"第 {numbers[qid]} 题" if qid in numbers else qid
        lead = "有 1 道题需要修改" if len(errors) == 1 else f"有 {len(errors)} 道题需要修改"
        super().__init__(f"{lead}：{where}{first}")
        self.errors = errors
        self.extra = {"errors": errors}


def parse_time(value: Any, label: str) -> datetime:
    """An aware datetime from a datetime or an ISO 8601 string (no zone means Beijing time)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(
                f"{label}格式不正确，请使用 2025-06-01T09:00:00+08:00 这样的时间", code="invalid_time"
            ) from None
    else:
        raise BadInput(f"{label}应为时间（ISO 8601 格式）", code="invalid_time")
    return (dt if dt.tzinfo else dt.replace(tzinfo=TZ)).astimezone(TZ)


def _text(value: Any, max_len: int) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        return None
    return value.strip()


def _choices(raw: Any, what: str, max_items: int, errors: list[str]) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= max_items:
        errors.append(f"{what}应为 1 到 {max_items} 项的列表")
        return []
    out: list[dict[str, str]] = []
    for i, item in enumerate(raw, 1):
        oid = item.get("id") if isinstance(item, dict) else None
        label = _text(item.get("label"), 100) if isinstance(item, dict) else None
        if not isinstance(oid, str) or not ID_RE.match(oid):
            errors.append(f"{what}第 {i} 项的 id 应为 1 到 32 位字母、数字、下划线或连字符")
        elif label is None:
            errors.append(f"{what}第 {i} 项缺少名称（1 到 100 字）")
        elif any(o["id"] == oid for o in out):
            errors.append(f"{what}的 id「{oid}」重复")
        else:
            out.append({"id": oid, "label": label})
    return out


def _int(q: dict[str, Any], key: str, default: int, lo: int, hi: int, errors: list[str], label: str) -> int:
    value = q.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors.append(f"{label}应为 {lo} 到 {hi} 之间的整数")
        return default
    return value


def _question(q: Any, types: tuple[str, ...], earlier: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    errors: list[str] = []
    if not isinstance(q, dict):
        return {}, ["题目应为对象"]
    qtype, title = q.get("type"), _text(q.get("title"), 200)
    if qtype not in types:
        return {}, [f"题型应为{'、'.join(f'{t}（{TYPE_NAMES[t]}）' for t in types)}之一"]
    if title is None:
        errors.append("题目标题不能为空，且不超过 200 字")
    out: dict[str, Any] = {"id": q["id"], "type": qtype, "title": title or "", "required": q.get("required", False)}
    if not isinstance(out["required"], bool):
        errors.append("required 应为 true 或 false")
    if q.get("description") is not None:
        out["description"] = _text(q["description"], 500) or ""
    if qtype in ("single", "multiple"):
        out["options"] = _choices(q.get("options"), "选项", MAX_OPTIONS, errors)
        if qtype == "single" and len(out["options"]) < 2:
            errors.append("单选题至少需要 2 个选项")
    if qtype == "multiple":
        n = len(out["options"])
        out["min_choices"] = _int(q, "min_choices", 0, 0, max(n, 0), errors, "最少选择项数")
        out["max_choices"] = _int(q, "max_choices", n, 1, max(n, 1), errors, "最多选择项数")
        if out["min_choices"] > out["max_choices"]:
            errors.append("最少选择项数不能大于最多选择项数")
    elif qtype == "text":
        out["max_length"] = _int(q, "max_length", 500, 1, MAX_TEXT, errors, "字数上限")
        out["min_length"] = _int(q, "min_length", 0, 0, out["max_length"], errors, "字数下限")
        if q.get("format") is not None:
            if q["format"] not in TEXT_FORMATS:
                errors.append(f"format 只能是 {'、'.join(TEXT_FORMATS)} 之一")
            out["format"] = q["format"]
    elif qtype == "rating":
        out["scale_min"] = _int(q, "scale_min", 1, 0, 1, errors, "最低分")
        out["scale_max"] = _int(q, "scale_max", 5, 2, 10, errors, "最高分")
        for key in ("min_label", "max_label"):
            out[key] = _text(q.get(key), 20) or ""
    elif qtype == "matrix":
        out["rows"] = _choices(q.get("rows"), "矩阵行", MAX_ROWS, errors)
        out["columns"] = _choices(q.get("columns"), "矩阵列", MAX_OPTIONS, errors)
    if q.get("show_if") is not None:
        out["show_if"] = _show_if(q["show_if"], earlier, errors)
    return out, errors


def _show_if(cond: Any, earlier: dict[str, dict[str, Any]], errors: list[str]) -> dict[str, Any]:
    if not isinstance(cond, dict) or set(cond) != {"question", "any_of"}:
        errors.append('显示条件应为 {"question": 前面题目的 id, "any_of": [取值...]}')
        return {}
    src = earlier.get(cond["question"]) if isinstance(cond["question"], str) else None
    values = cond["any_of"]
    if src is None:
        errors.append("显示条件只能引用排在前面的题目")
    elif src["type"] not in ("single", "multiple", "rating"):
        errors.append("显示条件只能引用单选题、多选题或评分题")
    elif not isinstance(values, list) or not values:
        errors.append("显示条件的 any_of 应为非空列表")
    elif src["type"] == "rating":
        lo, hi = src["scale_min"], src["scale_max"]
        if any(isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi for v in values):
            errors.append(f"显示条件的分值应在 {lo} 到 {hi} 之间")
    else:
        known = {o["id"] for o in src["options"]}
        bad = [str(v) for v in values if not isinstance(v, str) or v not in known]
        if bad:
            errors.append(f"显示条件引用了不存在的选项：{'、'.join(bad[:5])}")
    return {"question": cond.get("question"), "any_of": values}


def normalize_questions(
    raw: Any, *, types: tuple[str, ...] = tuple(TYPE_NAMES), allow_empty: bool = False
) -> list[dict[str, Any]]:
    """The cleaned question list (defaults filled in, unknown keys dropped), or InvalidDefinition."""
    if not isinstance(raw, list) or len(raw) > MAX_QUESTIONS or (not raw and not allow_empty):
        lo = 0 if allow_empty else 1
        raise InvalidDefinition({"questions": f"题目应为 {lo} 到 {MAX_QUESTIONS} 道题的列表"})
    errors: dict[str, str] = {}
    earlier: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, q in enumerate(raw, 1):
        qid = q.get("id") if isinstance(q, dict) else None
        key = qid if isinstance(qid, str) and ID_RE.match(qid) else f"questions[{i - 1}]"
        if key != qid:
            errors[key] = f"第 {i} 题的 id 应为 1 到 32 位字母、数字、下划线或连字符"
            continue
        if qid in seen:
            errors[f"questions[{i - 1}]"] = f"第 {i} 题的 id「{qid}」与前面的题目重复"
            continue
        seen.add(qid)
        clean, problems = _question(q, types, earlier)
        if problems:
            errors[qid] = f"第 {i} 题：" + "；".join(problems)
        else:
            earlier[qid] = clean
            out.append(clean)
    if errors:
        raise InvalidDefinition(errors)
    return out


def shown_questions(questions: list[dict[str, Any]], answers: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions a user sees given their answers: skip logic, hiding chains included."""
    shown: dict[str, dict[str, Any]] = {}
    for q in questions:
        cond = q.get("show_if")
        if cond:
            if cond["question"] not in shown:
                continue
            value = answers.get(cond["question"])
            picked = value if isinstance(value, list) else [value]
            if not any(isinstance(v, str | int) and not isinstance(v, bool) and v in cond["any_of"] for v in picked):
                continue
        shown[q["id"]] = q
    return list(shown.values())


def _answer_problem(q: dict[str, Any], value: Any, partial: bool) -> str | None:
    t = q["type"]
    if t == "single":
        ok = isinstance(value, str) and value in {o["id"] for o in q["options"]}
        return None if ok else "请选择一个有效选项"
    if t == "multiple":
        known = {o["id"] for o in q["options"]}
        if not isinstance(value, list) or any(not isinstance(v, str) or v not in known for v in value):
            return "请从选项中选择（提交选项 id 的列表）"
        if len(set(value)) != len(value):
            return "选项不能重复"
        if len(value) > q["max_choices"]:
            return f"最多选择 {q['max_choices']} 项"
        if not partial and len(value) < q["min_choices"]:
            return f"请至少选择 {q['min_choices']} 项"
        return None
    if t == "text":
        if not isinstance(value, str):
            return "请填写文字"
        n = len(value.strip())
        if n > q["max_length"]:
            return f"最多 {q['max_length']} 个字（当前 {n} 字）"
        if not partial and n < q["min_length"]:
            return f"至少 {q['min_length']} 个字（当前 {n} 字）"
        fmt = q.get("format")
        if fmt and not partial and n and not format_ok(fmt, value.strip()):
            return TEXT_FORMATS[fmt]
        return None
    if t == "rating":
        lo, hi = q["scale_min"], q["scale_max"]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return f"请选择 {lo} 到 {hi} 之间的分值"
        return None
    # matrix
    rows, cols = {r["id"]: r["label"] for r in q["rows"]}, {c["id"] for c in q["columns"]}
    if not isinstance(value, dict) or any(
        k not in rows or not isinstance(v, str) or v not in cols for k, v in value.items()
    ):
        return "请为每一行选择一个有效选项（提交 {行 id: 列 id}）"
    missing = [label for rid, label in rows.items() if rid not in value]
    if missing and q["required"] and not partial:
        return f"请为每一行选择一项，未作答：{'、'.join(missing[:5])}"
    return None


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or (isinstance(value, str) and not value.strip())


def check_answers(questions: list[dict[str, Any]], answers: Any, *, partial: bool = False) -> dict[str, Any]:
    """Cleaned answers of the shown questions, or InvalidAnswers with one message per question.

    `partial` (a draft): required questions may be blank and minimums are not enforced yet. Answers to
    questions that skip logic hides are dropped, not refused: the user may have changed an earlier answer.
    """
    numbers = {q["id"]: i for i, q in enumerate(questions, 1)}
    if not isinstance(answers, dict):
        raise BadInput("answers 应为对象：{题目 id: 答案}", code="invalid_answers")
    errors: dict[str, str] = {}
    for qid in answers:
        if qid not in numbers:
            errors[str(qid)[:40]] = "没有这道题，请刷新后重新填写"
    clean: dict[str, Any] = {}
    for q in shown_questions(questions, answers):
        value = answers.get(q["id"])
        if _is_blank(value):
            if q["required"] and not partial:
                errors[q["id"]] = "此题为必答题" if q["type"] != "matrix" else "此题为必答题，请为每一行选择一项"
            continue
        problem = _answer_problem(q, value, partial)
        if problem:
            errors[q["id"]] = problem
        else:
            clean[q["id"]] = value.strip() if isinstance(value, str) else value
    if errors:
        raise InvalidAnswers(dict(sorted(errors.items(), key=lambda kv: numbers.get(kv[0], 10**6))), numbers)
    return clean
