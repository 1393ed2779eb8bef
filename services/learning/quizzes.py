"""Quiz units: a seeded draw from the bank per attempt, at most three attempts, scored on the server.

The draw of attempt n is a pure function of (secret, course, unit, learner, n): showing the quiz and
scoring it need no stored draw, and reloading the page shows the same questions. Taking attempt n is one
guarded update (`used` == n-1 and not yet passed), so two submits racing, or a 4th attempt, are refused.
The right answers are shown only after the last attempt (or once passed: nothing is left to try).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict
from services.learning import credits, store
from services.learning.definition import Unit
from services.learning.studying import course_for, unit_of
from services.members.sessions import CurrentUser
from services.orgs.visibility import PROVINCE
from services.surveys.questions import check_answers

MAX_ATTEMPTS = 3


def draw(deps: Deps, unit: Unit, course_id: str, openid: str, attempt: int) -> list[dict[str, Any]]:
    secret = deps.settings.server.cookie_secret.encode()
    seed = hmac.new(secret, f"quiz:{course_id}:{unit.id}:{openid}:{attempt}".encode(), hashlib.sha256).digest()
    return random.Random(seed).sample(unit.bank, unit.draw)  # noqa: S311 - a fair shuffle, not a secret


def score(unit: Unit, questions: list[dict[str, Any]], answers: dict[str, Any]) -> tuple[int, list[str]]:
    """(percent right, ids of the questions answered wrong)."""
    wrong = []
    for q in questions:
        given = answers.get(q["id"])
        right = unit.key[q["id"]]
        if (sorted(given) if isinstance(given, list) else given) != right:
            wrong.append(q["id"])
    return round(100 * (len(questions) - len(wrong)) / len(questions)), wrong


def _reveal(unit: Unit) -> dict[str, Any]:
    return {q["id"]: unit.key[q["id"]] for q in unit.bank}


async def show(deps: Deps, user: CurrentUser, course_id: str, unit_id: str) -> dict[str, Any]:
    course = await course_for(deps, user, course_id)
    unit = unit_of(course, unit_id, "quiz")
    state = await store.get_quiz(deps.db, course.id, unit.id, user.openid) or {}
    used, passed = int(state.get("used", 0)), bool(state.get("passed"))
    if passed:
        enrollment = await store.get_enrollment(deps.db, course.id, user.openid) or {}
        if unit.id not in enrollment.get("units_done", []):  # a crash came between the pass and its record
            await credits.record_unit_done(deps, user, course, unit.id)
    over = passed or used >= MAX_ATTEMPTS
    out: dict[str, Any] = {
        "attempts_used": used, "max_attempts": MAX_ATTEMPTS, "passed": passed, "pass_score": unit.pass_score,
        "best_score": max((a["score"] for a in state.get("attempts", [])), default=None),
        "attempt": None if over else used + 1,
        "questions": [] if over else draw(deps, unit, course.id, user.openid, used + 1),
        "answers": _reveal(unit) if over else None,
    }  # fmt: skip
    return out


async def submit(
    deps: Deps, user: CurrentUser, course_id: str, unit_id: str, attempt: Any, answers: Any
) -> dict[str, Any]:
    course = await course_for(deps, user, course_id)
    unit = unit_of(course, unit_id, "quiz")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise BadInput("attempt 应为本次答题的序号（从 1 开始）", code="invalid_attempt")
    if attempt > MAX_ATTEMPTS:
        raise Conflict(f"答题次数已用完（每人最多 {MAX_ATTEMPTS} 次）", code="attempts_exhausted")
    questions = draw(deps, unit, course.id, user.openid, attempt)
    clean = check_answers([{**q, "required": True} for q in questions], answers)
    pct, wrong = score(unit, questions, clean)
    passed = pct >= unit.pass_score
    record = {"n": attempt, "score": pct, "passed": passed, "answers": clean, "at": now()}
    await credits.enroll(deps, user, course)
    org_path = list(user.org_path) or [PROVINCE]
    if not await store.take_attempt(deps.db, course.id, unit.id, user.openid, attempt, record, passed, org_path):
        state = await store.get_quiz(deps.db, course.id, unit.id, user.openid) or {}
        if state.get("passed"):
            raise Conflict("您已通过本测验，无需再答", code="quiz_passed")
        if int(state.get("used", 0)) >= MAX_ATTEMPTS:
            raise Conflict(f"答题次数已用完（每人最多 {MAX_ATTEMPTS} 次）", code="attempts_exhausted")
        raise Conflict("本次答题已提交过，请刷新后查看下一次的题目", code="attempt_taken")
    out: dict[str, Any] = {"attempt": attempt, "score": pct, "passed": passed, "pass_score": unit.pass_score,
                           "wrong": len(wrong), "attempts_left": 0 if passed else MAX_ATTEMPTS - attempt,
                           "answers": None, "course_completed": False, "certificate": None}  # fmt: skip
    if passed or attempt == MAX_ATTEMPTS:
        out["answers"] = _reveal(unit)
    if passed:
        outcome = await credits.record_unit_done(deps, user, course, unit.id)
        out |= {"course_completed": outcome.course_completed, "certificate": outcome.certificate or None}
    return out
