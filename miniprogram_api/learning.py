"""在线学习 in the mini-program: courses, units, heartbeats, quizzes, my credits, public certificate checks."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput
from miniprogram_api.base import MpHandler, PublicMpHandler
from miniprogram_api.openapi import body, error, ok, query
from services.learning import credits, quizzes, studying

TAGS = ["在线学习"]
UNIT = r"/api/mp/learning/courses/(?P<course_id>[^/]+)/units/(?P<unit_id>[^/]+)"


class CoursesHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "我能学习的课程（本单位及上级工会发布的）", "operationId": "listCourses",
            "parameters": [query("cursor", {"type": "string", "pattern": "^[0-9a-f]{0,12}$"}, "上一页的 next_cursor")],
            "responses": {"200": ok("CourseList")},
        }
    }  # fmt: skip

    async def get(self) -> None:
        cursor = self.get_query_argument("cursor", "", strip=False)
        if not re.fullmatch(r"[0-9a-f]{0,12}", cursor):
            raise BadInput("cursor 不正确，请从第一页重新加载", code="invalid_field")
        self.write_json(await studying.list_courses(self.deps, self.user, cursor))


class CourseHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "课程详情：单元、我的进度（续播位置）、是否已完成及证书编号",
            "operationId": "getCourse", "responses": {"200": ok("CourseDetail"), "403": error("仅限会员学习")},
        }
    }  # fmt: skip

    async def get(self, course_id: str) -> None:
        self.write_json(await studying.detail(self.deps, self.user, course_id))


class StartHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS, "summary": "开始（或继续）学习视频单元：返回续播位置", "operationId": "startUnit",
            "responses": {"200": ok("UnitStarted"), "403": error("仅限会员学习")},
        }
    }  # fmt: skip

    async def post(self, course_id: str, unit_id: str) -> None:
        self.write_json(await studying.start_unit(self.deps, self.user, course_id, unit_id))


class HeartbeatHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS,
            "summary": "播放心跳（约每 15 秒一次）：上报自上次计入以来播放的片段 [from, to]（秒）。"
            "每人每 10 秒最多计入一次（counted=false 时请把片段并入下一次）；每次最多计入距上次 1.25 倍的时长；"
            "覆盖 90% 即完成单元，最后一个单元完成时同一请求内完成课程并发放证书",
            "operationId": "heartbeat",
            "requestBody": body("Heartbeat"),
            "responses": {"200": ok("HeartbeatResult"), "403": error("仅限会员学习"), "409": error("尚未开始该单元")},
        }
    }  # fmt: skip

    async def post(self, course_id: str, unit_id: str) -> None:
        data = self.body("Heartbeat")
        res = await studying.heartbeat(self.deps, self.user, course_id, unit_id, data["from"], data["to"])
        self.write_json(res.answer())


class ReadHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS, "summary": "图文单元已读完", "operationId": "readArticle",
            "responses": {"200": ok("UnitDone"), "403": error("仅限会员学习")},
        }
    }  # fmt: skip

    async def post(self, course_id: str, unit_id: str) -> None:
        self.write_json(await studying.read_article(self.deps, self.user, course_id, unit_id))


class QuizHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "测验：本次抽到的题目（最多 3 次；用完或通过后显示正确答案）",
            "operationId": "getQuiz", "responses": {"200": ok("Quiz"), "403": error("仅限会员学习")},
        },
        "post": {
            "tags": TAGS, "summary": "提交第 attempt 次答题（服务器评分）", "operationId": "submitQuiz",
            "requestBody": body("QuizSubmit"),
            "responses": {"200": ok("QuizResult"), "403": error("仅限会员学习"),
                          "409": error("答题次数已用完、已通过或本次已提交")},
        },
    }  # fmt: skip

    async def get(self, course_id: str, unit_id: str) -> None:
        self.write_json(await quizzes.show(self.deps, self.user, course_id, unit_id))

    async def post(self, course_id: str, unit_id: str) -> None:
        data = self.body("QuizSubmit")
        self.write_json(
            await quizzes.submit(self.deps, self.user, course_id, unit_id, data["attempt"], data["answers"])
        )


class MineHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {"tags": TAGS, "summary": "首页用：学习中的课程、已完成数、今年学时", "operationId": "myLearning",
                "responses": {"200": ok("MyLearning")}},
    }  # fmt: skip

    async def get(self) -> None:
        self.write_json(await studying.mine(self.deps, self.user))


class CreditsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "我的学时（按年度）", "operationId": "myCredits",
            "parameters": [query("year", {"type": "integer", "minimum": 2000, "maximum": 2100}, "年度，默认今年")],
            "responses": {"200": ok("Credits")},
        }
    }  # fmt: skip

    async def get(self) -> None:
        raw = self.get_query_argument("year", "", strip=False)
        if raw and not re.fullmatch(r"[0-9]{4}", raw):
            raise BadInput("year 应为四位年份", code="invalid_field")
        self.write_json(await credits.my_credits(self.deps, self.user, int(raw) if raw else now().year))


class CertificateHandler(PublicMpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "按编号查验学习证书（公开）：姓名脱敏、课程、学时、日期",
            "operationId": "verifyCertificate", "responses": {"200": ok("Certificate")},
        }
    }  # fmt: skip

    async def get(self, number: str) -> None:
        self.write_json(await credits.verify(self.deps, number))


_INT = {"type": "integer"}
_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_BOOL = {"type": "boolean"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(props) if required is None else required, "properties": props}


_SUMMARY = {"id": _STR, "title": _STR, "org": _STR, "credit_hours": {"type": "number"}, "members_only": _BOOL,
            "units": _INT, "status": {"type": "string", "enum": ["new", "learning", "completed"]}}  # fmt: skip
_UNIT = {"id": _STR, "kind": {"type": "string", "enum": ["video", "article", "quiz"]}, "title": _STR,
         "done": _BOOL, "covered_seconds": _INT, "position": _INT, "url": _STR, "duration_s": _INT, "body": _STR,
         "questions": _INT, "pass_score": _INT, "max_attempts": _INT}  # fmt: skip
_ANSWER = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
_QUESTION = {"type": "object", "required": ["id", "type", "title", "options"], "properties": {
    "id": _STR, "type": {"type": "string", "enum": ["single", "multiple"]}, "title": _STR,
    "options": {"type": "array", "items": _obj({"id": _STR, "label": _STR})}}}  # fmt: skip

schemas: dict[str, dict[str, Any]] = {
    "CourseSummary": _obj(_SUMMARY),
    "CourseList": _obj(
        {"items": {"type": "array", "items": {"$ref": "#/components/schemas/CourseSummary"}}, "next_cursor": _NSTR}
    ),  # fmt: skip
    "CourseUnit": _obj(_UNIT, ["id", "kind", "title", "done", "covered_seconds", "position"]),
    "CourseDetail": _obj(
        {
            "id": _STR,
            "title": _STR,
            "description": _STR,
            "org": _STR,
            "credit_hours": {"type": "number"},
            "members_only": _BOOL,
            "completed": _BOOL,
            "certificate": _NSTR,
            "units": {"type": "array", "items": {"$ref": "#/components/schemas/CourseUnit"}},
        }
    ),  # fmt: skip
    "UnitStarted": _obj({"position": _INT, "covered_seconds": _INT, "duration_seconds": _INT, "unit_done": _BOOL}),
    "Heartbeat": {
        "type": "object",
        "required": ["from", "to"],
        "additionalProperties": False,
        "properties": {
            "from": {"type": "number", "minimum": 0, "maximum": 86400, "title": "片段起点（秒）"},
            "to": {"type": "number", "minimum": 0, "maximum": 86400, "title": "片段终点（秒）"},
        },
    },  # fmt: skip
    "HeartbeatResult": _obj(
        {
            "counted": _BOOL,
            "credited_seconds": _INT,
            "covered_seconds": _INT,
            "duration_seconds": _INT,
            "position": _INT,
            "unit_done": _BOOL,
            "course_completed": _BOOL,
            "certificate": _NSTR,
        }
    ),  # fmt: skip
    "UnitDone": _obj({"unit_done": _BOOL, "course_completed": _BOOL, "certificate": _NSTR}),
    "Quiz": _obj(
        {
            "attempts_used": _INT,
            "max_attempts": _INT,
            "passed": _BOOL,
            "pass_score": _INT,
            "best_score": {"type": "integer", "nullable": True},
            "attempt": {"type": "integer", "nullable": True},
            "questions": {"type": "array", "items": _QUESTION},
            "answers": {"type": "object", "nullable": True, "additionalProperties": _ANSWER},
        }
    ),  # fmt: skip
    "QuizSubmit": {
        "type": "object",
        "required": ["attempt", "answers"],
        "additionalProperties": False,
        "properties": {
            "attempt": {"type": "integer", "minimum": 1, "maximum": 100, "title": "第几次答题"},
            "answers": {"type": "object", "title": "答案", "additionalProperties": _ANSWER},
        },
    },  # fmt: skip
    "QuizResult": _obj(
        {
            "attempt": _INT,
            "score": _INT,
            "passed": _BOOL,
            "pass_score": _INT,
            "wrong": _INT,
            "attempts_left": _INT,
            "answers": {"type": "object", "nullable": True, "additionalProperties": _ANSWER},
            "course_completed": _BOOL,
            "certificate": _NSTR,
        }
    ),  # fmt: skip
    "Credits": _obj(
        {
            "year": _INT,
            "total_hours": {"type": "number"},
            "items": {
                "type": "array",
                "items": _obj(
                    {
                        "course_id": _STR,
                        "course_title": _STR,
                        "credit_hours": {"type": "number"},
                        "certificate": _STR,
                        "at": {"type": "string", "format": "date-time"},
                    }
                ),
            },
        }
    ),  # fmt: skip
    "MyLearning": _obj(
        {
            "in_progress": {"type": "array", "items": _obj({"course_id": _STR, "title": _STR, "units_done": _INT})},
            "completed": _INT,
            "year": _INT,
            "credit_hours": {"type": "number"},
        }
    ),  # fmt: skip
    "Certificate": _obj(
        {
            "number": _STR,
            "name": _STR,
            "course_title": _STR,
            "credit_hours": {"type": "number"},
            "issued_on": {"type": "string", "format": "date"},
        }
    ),  # fmt: skip
}

routes = [
    (r"/api/mp/learning/courses", CoursesHandler),
    (r"/api/mp/learning/courses/(?P<course_id>[^/]+)", CourseHandler),
    (UNIT + r"/start", StartHandler),
    (UNIT + r"/heartbeat", HeartbeatHandler),
    (UNIT + r"/read", ReadHandler),
    (UNIT + r"/quiz", QuizHandler),
    (r"/api/mp/learning/mine", MineHandler),
    (r"/api/mp/learning/credits", CreditsHandler),
    (r"/api/mp/learning/certificates/(?P<number>[^/]+)", CertificateHandler),
]
