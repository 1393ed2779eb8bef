"""在线学习 in the console: courses (JSON API to create, edit drafts, order units, publish, close), the funnel
per unit, completion by org, and the credit ledger export (pages list them; definitions are JSON)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv
from services.editors import audit
from services.learning import admin

COURSE_ID = r"([0-9a-f]{12})"


def _year(raw: str) -> int:
    if raw and not re.fullmatch(r"[0-9]{4}", raw):
        raise BadInput("年份应为四位数字", code="invalid_year")
    return int(raw) if raw else now().year


class CoursesPage(ConsolePage):
    nav: ClassVar[str] = "learning"

    async def get(self) -> None:
        rows = await admin.list_for(self.deps, self.scope)
        await self.render_page("console/learning.html", rows=rows, year=now().year)


class CoursePage(ConsolePage):
    nav: ClassVar[str] = "learning"

    async def get(self, course_id: str) -> None:
        course = await admin.get(self.deps, self.scope, course_id)
        funnel = await admin.funnel(self.deps, self.scope, course_id)
        org = self.get_query_argument("org", "") or self.scope.org
        completion = await admin.completion(self.deps, self.scope, org, course_id)
        odd = await admin.anomalies(self.deps, self.scope, course_id)
        await self.render_page(
            "console/learning_course.html", course=course, funnel=funnel, completion=completion, anomalies=odd
        )


class LedgerExport(ConsolePage):
    nav: ClassVar[str] = "learning"

    async def get(self) -> None:
        year = _year(self.get_query_argument("year", ""))
        rows = admin.ledger_rows(self.deps, self.scope, year)
        await audit.record(self.deps.db, self.scope.editor, "export", "course", f"ledger:{year}",
                           (self.scope.org,), summary=f"导出 {year} 年学时台账", ip=self.scope.ip)  # fmt: skip
        await send_csv(self, f"学时台账-{year}", rows)


class CoursesApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await admin.list_for(self.deps, self.scope)})

    async def post(self) -> None:
        self.write_json(await admin.create(self.deps, self.scope, self.json_body()), 201)


class CourseApi(ConsoleApi):
    async def get(self, course_id: str) -> None:
        self.write_json(await admin.get(self.deps, self.scope, course_id))

    async def patch(self, course_id: str) -> None:
        self.write_json(await admin.update(self.deps, self.scope, course_id, self.json_body()))


class CourseOrderApi(ConsoleApi):
    async def post(self, course_id: str) -> None:
        body = self.json_body()
        units = body.get("units") if isinstance(body, dict) else None
        self.write_json(await admin.reorder(self.deps, self.scope, course_id, units))


class CourseActionApi(ConsoleApi):
    async def post(self, course_id: str, action: str) -> None:
        self.write_json(await admin.set_status(self.deps, self.scope, course_id, action))


class FunnelApi(ConsoleApi):
    async def get(self, course_id: str) -> None:
        self.write_json(await admin.funnel(self.deps, self.scope, course_id))


class AnomaliesApi(ConsoleApi):
    async def get(self, course_id: str) -> None:
        self.write_json({"items": await admin.anomalies(self.deps, self.scope, course_id)})


class QuizRankingApi(ConsoleApi):
    async def get(self, course_id: str, unit_id: str) -> None:
        org = self.get_query_argument("org", "")
        self.write_json(await admin.quiz_ranking(self.deps, self.scope, course_id, unit_id, org))


class CompletionApi(ConsoleApi):
    async def get(self) -> None:
        org = self.get_query_argument("org", "")
        course = self.get_query_argument("course", "")
        self.write_json(await admin.completion(self.deps, self.scope, org, course))


routes: list[tuple[str, Any]] = [
    (r"/admin/learning", CoursesPage),
    (r"/admin/learning/courses/" + COURSE_ID, CoursePage),
    (r"/admin/learning/credits\.csv", LedgerExport),
    (r"/api/admin/learning/courses", CoursesApi),
    (r"/api/admin/learning/courses/" + COURSE_ID, CourseApi),
    (r"/api/admin/learning/courses/" + COURSE_ID + r"/order", CourseOrderApi),
    (r"/api/admin/learning/courses/" + COURSE_ID + r"/(publish|close)", CourseActionApi),
    (r"/api/admin/learning/courses/" + COURSE_ID + r"/funnel", FunnelApi),
    (r"/api/admin/learning/courses/" + COURSE_ID + r"/quiz/([A-Za-z0-9_-]{1,16})/ranking", QuizRankingApi),
    (r"/api/admin/learning/courses/" + COURSE_ID + r"/anomalies", AnomaliesApi),
    (r"/api/admin/learning/completion", CompletionApi),
]
