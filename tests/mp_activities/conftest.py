"""Fixtures for surveys and activity sign-up tests: users as the session sees them, sample definitions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from services.members.sessions import CurrentUser
from tests.conftest import Fetch
from tests.mp.conftest import MpClient

JINAN_PATH = ("370000", "370100", "370102")


def member(openid: str, org_path: tuple[str, ...] = JINAN_PATH, unionid: str = "") -> CurrentUser:
    """A bound union member of the given org (the session's view, as 4a's login builds it)."""
    return CurrentUser(openid, unionid, member_id=f"m-{openid}", org=org_path[-1], org_path=org_path)


def guest(openid: str) -> CurrentUser:
    """A logged-in worker who has not bound a membership: sees province-wide items only."""
    return CurrentUser(openid)


def survey_def(**over: Any) -> dict[str, Any]:
    at = now()
    data: dict[str, Any] = {
        "org": "370100",
        "title": "职工满意度调查",
        "description": "请如实填写",
        "opens_at": (at - timedelta(hours=1)).isoformat(),
        "closes_at": (at + timedelta(days=7)).isoformat(),
        "questions": [
            {"id": "q1", "type": "single", "title": "您是否参加过工会活动？", "required": True,
             "options": [{"id": "yes", "label": "参加过"}, {"id": "no", "label": "没有"}]},
            {"id": "q2", "type": "multiple", "title": "参加过哪些活动？", "required": True,
             "options": [{"id": "a", "label": "体育"}, {"id": "b", "label": "文艺"}, {"id": "c", "label": "培训"}],
             "min_choices": 2, "max_choices": 3, "show_if": {"question": "q1", "any_of": ["yes"]}},
            {"id": "q3", "type": "text", "title": "建议", "max_length": 20},
            {"id": "q4", "type": "rating", "title": "总体评分", "required": True, "scale_min": 1, "scale_max": 5},
            {"id": "q5", "type": "matrix", "title": "各项满意度", "required": True,
             "rows": [{"id": "r1", "label": "食堂"}, {"id": "r2", "label": "宿舍"}],
             "columns": [{"id": "good", "label": "满意"}, {"id": "bad", "label": "不满意"}]},
        ],
    }  # fmt: skip
    data.update(over)
    return data


GOOD_ANSWERS: dict[str, Any] = {"q1": "yes", "q2": ["a", "b"], "q3": "很好", "q4": 4, "q5": {"r1": "good", "r2": "bad"}}


def activity_def(capacity: int = 10, **over: Any) -> dict[str, Any]:
    """Two sessions starting in two and three days; sign-up open now, deadline tomorrow."""
    at = now()
    data: dict[str, Any] = {
        "org": "370100",
        "title": "职工健步走",
        "place": "泉城广场",
        "signup_deadline": (at + timedelta(days=1)).isoformat(),
        "sessions": [
            {"id": "s1", "title": "上午场", "capacity": capacity, "starts_at": (at + timedelta(days=2)).isoformat(),
             "ends_at": (at + timedelta(days=2, hours=2)).isoformat()},
            {"id": "s2", "title": "下午场", "capacity": capacity, "place": "大明湖",
             "starts_at": (at + timedelta(days=3)).isoformat(),
             "ends_at": (at + timedelta(days=3, hours=2)).isoformat()},
        ],
        "form": [
            {"id": "phone", "type": "text", "title": "手机号", "required": True, "format": "phone", "max_length": 11},
            {"id": "size", "type": "single", "title": "T恤尺码", "required": True,
             "options": [{"id": "m", "label": "M"}, {"id": "l", "label": "L"}]},
        ],
    }  # fmt: skip
    data.update(over)
    return data


FORM = {"phone": "13800138000", "size": "m"}


@pytest.fixture
def mp(fetch: Fetch, fake_wechat: Any) -> MpClient:
    """The app over HTTP as the mini-program calls it (real logins through the fake WeChat platform)."""
    return MpClient(fetch, fake_wechat)
