"""Workers' learning: the courses they can see, starting a unit, video heartbeats, articles read.

Honest progress: the player sends a heartbeat about every 15 s with the segment it played since the
last counted one ([from, to] in seconds of the video). Redis decides each heartbeat in one script
(services/learning/live.py): at most one heartbeat per learner per 10 s counts, whatever the unit or
tab; a counted heartbeat adds the part of its segment not yet watched, but never more than 1.25x the
wall-clock time since the previous counted heartbeat. The heartbeat that brings coverage to 90 %
records the unit, and the course when it was the last unit, before it answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.learning import credits, live, store
from services.learning.credits import Outcome
from services.learning.definition import Course, Unit, course_from_doc
from services.members.sessions import CurrentUser
from services.orgs import visibility

PAGE = 20


@dataclass(frozen=True)
class HeartbeatResult:
    counted: bool
    credited_s: int
    covered_s: int
    duration_s: int
    position_s: int
    unit_done: bool
    course_completed: bool
    certificate: str

    def answer(self) -> dict[str, Any]:
        return {
            "counted": self.counted, "credited_seconds": self.credited_s, "covered_seconds": self.covered_s,
            "duration_seconds": self.duration_s, "position": self.position_s, "unit_done": self.unit_done,
            "course_completed": self.course_completed, "certificate": self.certificate or None,
        }  # fmt: skip


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def course_for(deps: Deps, user: CurrentUser, course_id: str) -> Course:
    """A published course the user may take (404 outside their org path, 403 members-only)."""
    doc = await store.get_course(deps.db, course_id) if len(course_id) <= 32 else None
    if doc is None or doc.get("status") != "published":
        raise NotFound("课程不存在或已下线", code="course_not_found")
    course = course_from_doc(doc)
    visibility.check_access(user, course.org, course.members_only, "课程")
    return course


def unit_of(course: Course, unit_id: str, kind: str = "") -> Unit:
    unit = course.unit(unit_id)
    if unit is None:
        raise NotFound("课程中没有这个单元", code="unit_not_found")
    if kind and unit.kind != kind:
        raise BadInput(f"该单元是{unit.kind}单元，不能这样学习", code="wrong_unit_kind")
    return unit


async def list_courses(deps: Deps, user: CurrentUser, cursor: str, limit: int = PAGE) -> dict[str, Any]:
    docs = await store.published_courses(deps.db, visibility.visible_filter(user), cursor, limit + 1)
    mine = {e["course"]: e for e in await store.my_enrollments(deps.db, user.openid)}
    items = []
    for doc in docs[:limit]:
        e = mine.get(str(doc["_id"]))
        items.append({
            "id": str(doc["_id"]), "title": doc["title"], "org": doc["org"], "credit_hours": doc["credit_hours"],
            "members_only": bool(doc.get("members_only")), "units": len(doc.get("units", [])),
            "status": "completed" if e and e.get("completed_at") else "learning" if e else "new",
        })  # fmt: skip
    return {"items": items, "next_cursor": items[-1]["id"] if len(docs) > limit else None}


async def mine(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    """For the worker's home: courses in progress (newest first) and this year's credit hours."""
    enrollments = await store.my_enrollments(deps.db, user.openid)
    learning = [e for e in enrollments if not e.get("completed_at")][:10]
    titles = {str(d["_id"]): d["title"] for d in await store.courses_by_id(deps.db, [e["course"] for e in learning])}
    year = now().year
    ledger = await credits.my_credits(deps, user, year)
    return {
        "in_progress": [{"course_id": e["course"], "title": titles.get(e["course"], ""),
                         "units_done": len(e.get("units_done", []))} for e in learning],
        "completed": sum(1 for e in enrollments if e.get("completed_at")),
        "year": year, "credit_hours": ledger["total_hours"],
    }  # fmt: skip


async def detail(deps: Deps, user: CurrentUser, course_id: str) -> dict[str, Any]:
    course = await course_for(deps, user, course_id)
    enrollment = await store.get_enrollment(deps.db, course.id, user.openid) or {}
    progress = {p["unit"]: p for p in await store.my_progress(deps.db, course.id, user.openid)}
    lv = live.live(deps)
    units = []
    for u in course.units:
        state = await lv.get(user.openid, course.id, u.id) if u.kind == "video" else None
        p = progress.get(u.id, {})
        units.append({
            **u.public(),
            "done": u.id in enrollment.get("units_done", []),
            "covered_seconds": state.covered_s if state else int(p.get("cov", 0)),
            "position": state.position_s if state else int(p.get("pos", 0)),
        })  # fmt: skip
    return {
        "id": course.id, "title": course.title, "description": course.description, "org": course.org,
        "credit_hours": course.credit_hours, "members_only": course.members_only, "units": units,
        "completed": bool(enrollment.get("completed_at")), "certificate": enrollment.get("certificate"),
    }  # fmt: skip


async def start_unit(
    deps: Deps, user: CurrentUser, course_id: str, unit_id: str, at_ms: int | None = None
) -> dict[str, Any]:
    """Begin (or resume) a video unit: its state in Redis, seeded from MongoDB; the resume position."""
    course = await course_for(deps, user, course_id)
    unit = unit_of(course, unit_id, "video")
    await credits.enroll(deps, user, course)
    state = await _load(deps, user, course, unit, at_ms or now_ms())
    return {"position": state.position_s, "covered_seconds": state.covered_s, "duration_seconds": unit.duration_s,
            "unit_done": state.done_ms > 0}  # fmt: skip


async def _load(deps: Deps, user: CurrentUser, course: Course, unit: Unit, at_ms: int) -> live.UnitState:
    lv = live.live(deps)
    seed = None
    doc = await store.get_progress(deps.db, course.id, unit.id, user.openid)
    if doc is not None:
        segs = [(int(a), int(b)) for a, b in doc.get("segs", [])]
        seed = live.UnitState("", unit.duration_s, segs, int(doc.get("cov", 0)), int(doc.get("pos", 0)),
                              int(doc.get("done_ms", 0)), bool(doc.get("rec")), int(doc.get("v", 0)))  # fmt: skip
    return await lv.start(user.openid, course.id, unit.id, at_ms, seed, unit.duration_s)


def _check_segment(seg_from: Any, seg_to: Any) -> tuple[float, float]:
    ok = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (seg_from, seg_to))
    if not ok or not 0 <= seg_from <= seg_to <= 86_400:
        raise BadInput("播放片段应为 0 ≤ from ≤ to 的秒数", code="invalid_segment")
    return float(seg_from), float(seg_to)


async def heartbeat(
    deps: Deps, user: CurrentUser, course_id: str, unit_id: str, seg_from: Any, seg_to: Any, at_ms: int | None = None
) -> HeartbeatResult:
    """One heartbeat: one Redis script; MongoDB only when this heartbeat completes the unit."""
    f, t = _check_segment(seg_from, seg_to)
    if len(course_id) > 32 or len(unit_id) > 16:
        raise NotFound("课程中没有这个单元", code="unit_not_found")
    lv = live.live(deps)
    at = at_ms or now_ms()
    beat = await lv.heartbeat(user.openid, course_id, unit_id, f, t, at)
    if not beat.started:
        # Never started here, or Redis lost the state: MongoDB's copy decides which.
        course = await course_for(deps, user, course_id)
        unit = unit_of(course, unit_id, "video")
        if await store.get_progress(deps.db, course.id, unit.id, user.openid) is None:
            raise Conflict("请先开始学习该单元（进入视频页面后再计时）", code="unit_not_started")
        await _load(deps, user, course, unit, at)
        beat = await lv.heartbeat(user.openid, course_id, unit_id, f, t, at)
    outcome = Outcome(beat.done_ms > 0, False, "")
    if beat.needs_record:
        outcome = await _record_video(deps, user, course_id, unit_id)
    return HeartbeatResult(
        beat.counted, beat.credited_s, beat.covered_s, beat.duration_s, beat.position_s, beat.done_ms > 0,
        outcome.course_completed, outcome.certificate,
    )  # fmt: skip


async def _record_video(deps: Deps, user: CurrentUser, course_id: str, unit_id: str) -> Outcome:
    """The unit just reached 90 %: its progress, then the course, durably — then Redis forgets to ask."""
    lv = live.live(deps)
    course = course_from_doc(await store.get_course(deps.db, course_id) or {})
    state = await lv.get(user.openid, course_id, unit_id)
    if state is not None:
        await store.write_progress(deps.db, [progress_row(state)])
    outcome = await credits.record_unit_done(deps, user, course, unit_id)
    await lv.mark_recorded(user.openid, course_id, unit_id)
    return outcome


def progress_row(state: live.UnitState) -> dict[str, Any]:
    openid, course, unit = state.ids
    return {"course": course, "unit": unit, "openid": openid, "segs": [list(s) for s in state.segments],
            "cov": state.covered_s, "pos": state.position_s, "done_ms": state.done_ms, "v": state.version,
            "rec": state.recorded, "refused_s": state.refused_s, "skipped": state.skipped}  # fmt: skip


async def read_article(deps: Deps, user: CurrentUser, course_id: str, unit_id: str) -> dict[str, Any]:
    course = await course_for(deps, user, course_id)
    unit_of(course, unit_id, "article")
    await credits.enroll(deps, user, course)
    outcome = await credits.record_unit_done(deps, user, course, unit_id)
    return {"unit_done": True, "course_completed": outcome.course_completed, "certificate": outcome.certificate or None}
