"""Activity sign-up (报名) in the mini-program: activities, sign up, my sign-ups, cancel, check in.

A full session is not an error: the sign-up is waitlisted (status `waitlisted`, `position` in line) and
promoted automatically, in order, when a place frees up. Signing up again for the same session answers
200 with the existing sign-up, so a retried request is harmless.
"""

from __future__ import annotations

from typing import Any, ClassVar

from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, ok
from miniprogram_api.surveys import BEFORE_PARAM, INVALID_ANSWERS, LIMIT_PARAM, DetailedErrors, page_args
from services.activities import browsing as activities
from services.activities import checkin, signups
from services.activities.live import split_id

TAGS = ["报名"]


class ActivityListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "我能看到的活动（本单位及上级工会发布的），按开始时间倒序",
            "operationId": "listActivities",
            "parameters": [LIMIT_PARAM, BEFORE_PARAM],
            "responses": {"200": ok("ActivityList")},
        }
    }

    async def get(self) -> None:
        before, limit = page_args(self)
        self.write_json(await activities.list_visible(self.deps, self.user, before=before, limit=limit))


class ActivityHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "活动详情：报名表、各场次剩余名额与候补人数、我的报名",
            "operationId": "getActivity",
            "responses": {"200": ok("ActivityDetail"), "503": error("报名人数较多，请稍后重试")},
        }
    }

    async def get(self, activity_id: str) -> None:
        self.write_json(await activities.detail(self.deps, self.user, activity_id))


class SignUpHandler(DetailedErrors):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS,
            "summary": "报名一个场次：有名额即报名成功，满员则进入候补（按到达顺序）",
            "operationId": "signUp",
            "requestBody": body("SignUpRequest"),
            "responses": {
                "201": ok("SignUp", "报名成功或已进入候补"),
                "200": ok("SignUp", "已报名过该场次：返回原记录"),
                "400": INVALID_ANSWERS,
                "403": error("仅限会员报名"),
                "409": error("报名未开始或已截止、场次已开始、名额与候补已满、超过每人可报场次数"),
                "429": error("操作太频繁"),
                "503": error("报名人数较多，请稍后重试"),
            },
        }
    }

    async def post(self, activity_id: str) -> None:
        data = self.body("SignUpRequest")  # the per-user rate limit is checked inside the sign-up script
        signup, created = await signups.sign_up(
            self.deps, self.user, activity_id, data["session_id"], data.get("form") or {}
        )
        self.write_json(signup, 201 if created else 200)


class MySignUpsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "我的报名（最近 50 条，含候补位置与签到状态）",
            "operationId": "mySignUps",
            "responses": {"200": ok("MySignUps")},
        }
    }

    async def get(self) -> None:
        self.write_json({"items": await signups.my_signups(self.deps, self.user)})


class CancelHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS,
            "summary": "取消我的报名（候补中的第一位自动递补）；重复取消返回同样结果",
            "operationId": "cancelSignUp",
            "responses": {
                "200": ok("SignUp"),
                "403": error("不是本人的报名"),
                "409": error("已过取消截止时间、已签到或场次已开始"),
                "429": error("操作太频繁"),
            },
        }
    }

    async def post(self, signup_id: str) -> None:
        await self.rate_limit("signup", per_user=30, window=60, message="操作太频繁，请稍后再试")
        activity_id, _ = split_id(signup_id)
        self.write_json(await signups.cancel(self.deps, self.user, activity_id, signup_id))


class CheckInHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS,
            "summary": "扫描现场二维码签到（每个报名只签到一次，重复扫码返回已签到）",
            "operationId": "checkIn",
            "requestBody": body("CheckInRequest"),
            "responses": {
                "200": ok("CheckInResult"),
                "409": error("未报名、候补中、签到未开始或已结束、签到码已过期"),
                "429": error("操作太频繁"),
            },
        }
    }

    async def post(self, activity_id: str) -> None:
        data = self.body("CheckInRequest")
        await self.rate_limit("checkin", per_user=30, window=60, message="操作太频繁，请稍后再试")
        self.write_json(await checkin.check_in_code(self.deps, self.user, activity_id, data["code"]))


_TIME = {"type": "string", "format": "date-time"}
_NTIME = {**_TIME, "nullable": True}
_SESSION: dict[str, Any] = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "place": {"type": "string"},
    "starts_at": _TIME,
    "ends_at": _TIME,
}
_SUMMARY: dict[str, Any] = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "org": {"type": "string"},
    "place": {"type": "string"},
    "members_only": {"type": "boolean"},
    "starts_at": _TIME,
    "ends_at": _TIME,
    "signup_opens_at": _NTIME,
    "signup_deadline": _TIME,
    "cancel_deadline": _TIME,
    "phase": {"type": "string", "enum": ["not_open", "open", "signup_closed", "ended", "cancelled"]},
    "phase_text": {"type": "string"},
    "session_count": {"type": "integer"},
}
_SIGNUP: dict[str, Any] = {
    "id": {"type": "string"},
    "activity_id": {"type": "string"},
    "activity_title": {"type": "string"},
    "session": {"allOf": [{"$ref": "#/components/schemas/ActivitySession"}], "nullable": True},
    "status": {"type": "string", "enum": ["confirmed", "waitlisted", "cancelled"]},
    "status_text": {"type": "string"},
    "position": {"type": "integer", "nullable": True, "description": "place in the waitlist (1 = next)"},
    "form": {"type": "object"},
    "created_at": _TIME,
    "checked_in_at": _NTIME,
    "can_cancel": {"type": "boolean"},
}

schemas: dict[str, dict[str, Any]] = {
    "ActivitySession": {"type": "object", "required": list(_SESSION), "properties": _SESSION},
    "ActivitySummary": {"type": "object", "required": list(_SUMMARY), "properties": _SUMMARY},
    "ActivityList": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ActivitySummary"}},
            "next": {"type": "string", "nullable": True, "description": "pass as `before` for the next page"},
        },
    },
    "ActivityDetail": {
        "type": "object",
        "required": [*_SUMMARY, "description", "form", "per_user_limit", "waitlist_enabled", "sessions", "my_signups"],
        "properties": {
            **_SUMMARY,
            "description": {"type": "string"},
            "form": {"type": "array", "items": {"$ref": "#/components/schemas/SurveyQuestion"}},
            "per_user_limit": {"type": "integer"},
            "waitlist_enabled": {"type": "boolean"},
            "sessions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [*_SESSION, "capacity", "confirmed", "remaining", "waitlisted"],
                    "properties": {
                        **_SESSION,
                        "capacity": {"type": "integer"},
                        "confirmed": {"type": "integer"},
                        "remaining": {"type": "integer"},
                        "waitlisted": {"type": "integer"},
                    },
                },
            },
            "my_signups": {"type": "array", "items": {"$ref": "#/components/schemas/SignUp"}},
        },
    },
    "SignUpRequest": {
        "type": "object",
        "required": ["session_id"],
        "additionalProperties": False,
        "properties": {
            "session_id": {"type": "string", "title": "场次", "minLength": 1, "maxLength": 32},
            "form": {"type": "object", "title": "报名表", "description": "{字段 id: 答案}, as survey answers"},
        },
    },
    "SignUp": {"type": "object", "required": list(_SIGNUP), "properties": _SIGNUP},
    "MySignUps": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/SignUp"}}},
    },
    "CheckInRequest": {
        "type": "object",
        "required": ["code"],
        "additionalProperties": False,
        "properties": {"code": {"type": "string", "title": "签到码", "minLength": 1, "maxLength": 200}},
    },
    "CheckInResult": {
        "type": "object",
        "required": ["status", "message", "checked_in_at", "session"],
        "properties": {
            "status": {"type": "string", "enum": ["checked_in", "already_checked_in"]},
            "message": {"type": "string"},
            "checked_in_at": _NTIME,
            "session": {"allOf": [{"$ref": "#/components/schemas/ActivitySession"}], "nullable": True},
        },
    },
}

routes = [
    (r"/api/mp/activities", ActivityListHandler),
    (r"/api/mp/activities/(?P<activity_id>[^/]+)", ActivityHandler),
    (r"/api/mp/activities/(?P<activity_id>[^/]+)/signups", SignUpHandler),
    (r"/api/mp/activities/(?P<activity_id>[^/]+)/checkin", CheckInHandler),
    (r"/api/mp/signups", MySignUpsHandler),
    (r"/api/mp/signups/(?P<signup_id>[^/]+)/cancel", CancelHandler),
]
