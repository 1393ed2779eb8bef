"""Completion, certificates and the credit ledger.

`record_unit_done` runs inside the request that earned the unit (the heartbeat crossing 90 %, the article
read, the quiz passed): MongoDB gets the unit, and when that was the last one, the course's completion,
a certificate with a unique number and the ledger entry, all journaled before the answer goes out.
Every step is idempotent, so a crash half-way is finished by the learner's next request (Redis keeps
`rec` = 0 until the whole record is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, NotFound
from services.learning import store
from services.learning.definition import Course
from services.members import store as members
from services.members.binding import mask_name
from services.members.sessions import CurrentUser

NUMBER_PREFIX = "SDXX"  # 山东学习


@dataclass(frozen=True)
class Outcome:
    unit_done: bool
    course_completed: bool
    certificate: str


def certificate_number(year: int, seq: int) -> str:
    return f"{NUMBER_PREFIX}{year}{seq:07d}"


async def _name(deps: Deps, user: CurrentUser) -> str:
    if not user.member_id:
        return ""
    member = await members.get(deps.db, user.member_id)
    return member.name if member else ""


async def enroll(deps: Deps, user: CurrentUser, course: Course) -> dict[str, Any]:
    fields = {"member_id": user.member_id, "org": user.org, "org_path": list(user.org_path), "started_at": now()}
    return await store.enroll(deps.db, course.id, user.openid, fields)


async def record_unit_done(deps: Deps, user: CurrentUser, course: Course, unit_id: str) -> Outcome:
    enrollment = await store.add_unit_done(deps.db, course.id, user.openid, unit_id)
    if enrollment is None:
        enrollment = await enroll(deps, user, course)
        enrollment = await store.add_unit_done(deps.db, course.id, user.openid, unit_id) or enrollment
    if enrollment.get("completed_at"):
        # A retry after a crash between the completion and the certificate: finish it (idempotent).
        await write_certificate(deps, user, course, enrollment["certificate"], enrollment["completed_at"])
        return Outcome(True, True, str(enrollment["certificate"]))
    required = [u.id for u in course.units]
    if not set(required) <= set(enrollment.get("units_done", [])):
        return Outcome(True, False, "")
    at = now()
    number = certificate_number(at.year, await store.next_number(deps.db, at.year))
    if not await store.complete(deps.db, course.id, user.openid, required, at, number):
        again = await store.get_enrollment(deps.db, course.id, user.openid) or {}
        return Outcome(True, True, str(again.get("certificate", "")))
    await write_certificate(deps, user, course, number, at)
    return Outcome(True, True, number)


async def write_certificate(deps: Deps, user: CurrentUser, course: Course, number: str, at: datetime) -> None:
    name = await _name(deps, user)
    key = f"{course.id}:{user.openid}"
    await store.insert_certificate(deps.db, {
        "_id": number, "key": key, "course": course.id, "course_title": course.title, "openid": user.openid,
        "name": name, "credit_hours": course.credit_hours, "issued_at": at,
    })  # fmt: skip
    await store.insert_credit(deps.db, {
        "_id": key, "openid": user.openid, "member_id": user.member_id, "name": name, "org": user.org,
        "org_path": list(user.org_path), "year": at.year, "course": course.id, "course_title": course.title,
        "credit_hours": course.credit_hours, "certificate": number, "at": at,
    })  # fmt: skip


async def verify(deps: Deps, number: str) -> dict[str, Any]:
    """The public check of a certificate: the holder's name masked, the course, the credit and the date."""
    if not 8 <= len(number) <= 32:
        raise BadInput("证书编号格式不正确", code="invalid_certificate")
    cert = await store.get_certificate(deps.db, number.strip().upper())
    if cert is None:
        raise NotFound("未找到该证书，请核对证书编号", code="certificate_not_found")
    return {
        "number": cert["_id"],
        "name": mask_name(cert.get("name", "")) or "学员",
        "course_title": cert["course_title"],
        "credit_hours": cert["credit_hours"],
        "issued_on": localize(cert["issued_at"]).date().isoformat(),
    }


async def my_credits(deps: Deps, user: CurrentUser, year: int) -> dict[str, Any]:
    if not 2000 <= year <= 2100:
        raise BadInput("年份应为 2000 到 2100 之间的整数", code="invalid_year")
    rows = await store.my_credits(deps.db, user.openid, year)
    items = [
        {"course_id": r["course"], "course_title": r["course_title"], "credit_hours": r["credit_hours"],
         "certificate": r["certificate"], "at": localize(r["at"]).isoformat()}
        for r in rows
    ]  # fmt: skip
    return {"year": year, "total_hours": round(sum(r["credit_hours"] for r in rows), 1), "items": items}
