"""Seed content of 山东工会 (province level): welcome, default reply, keyword rules, menu-click replies.

Texts are jinja2 templates in `templates/bot/` (read once here, stored in MongoDB where editors
change them later; seeding never overwrites an editor's version). City unions add their own
documents with their org code; anything they do not override falls back to these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROVINCE = "370000"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "bot"


def _text(name: str) -> dict[str, str]:
    return {"type": "text", "text": (TEMPLATES / f"{name}.j2").read_text(encoding="utf-8").strip()}


TRANSFER = {"type": "transfer"}

# (id suffix, name, match, patterns, priority, reply)
KEYWORDS: list[tuple[str, str, str, list[str], int, dict[str, Any]]] = [
    ("service", "人工客服", "exact", ["人工", "客服", "转人工", "人工客服", "在线客服"], 100, TRANSFER),
    ("service-ask", "找人工", "contains", ["人工客服", "转人工", "找客服"], 90, TRANSFER),
    ("vote", "投票", "contains", ["投票"], 50, _text("vote")),
    ("signup", "报名", "contains", ["报名", "惠工活动"], 50, _text("signup")),
    ("survey", "问卷", "contains", ["问卷", "调查"], 50, _text("survey")),
    ("counselling", "心理咨询", "contains", ["心理", "压力大", "焦虑", "失眠", "抑郁"], 60, _text("counselling")),
    (
        "legal",
        "法律援助",
        "contains",
        ["法律", "维权", "欠薪", "工资拖欠", "工伤", "劳动合同", "仲裁"],
        60,
        _text("legal"),
    ),
    ("learning", "在线学习", "contains", ["学习", "学时", "网课"], 45, _text("learning")),
    ("library", "职工书屋", "contains", ["书屋", "借书", "还书", "读书"], 45, _text("library")),
    ("member", "入会与会员绑定", "contains", ["入会", "会员", "绑定"], 40, _text("member")),
    ("lottery", "抽奖", "contains", ["抽奖", "抽签"], 50, _text("lottery")),
    ("birthday", "生日礼品", "contains", ["生日"], 50, _text("birthday")),
    ("hotline", "服务热线", "regex", [r"(热线|电话)(是|号码|多少)?"], 10, _text("hotline")),
    ("nearby", "附近服务中心", "contains", ["服务中心", "附近", "服务站"], 20, _text("nearby")),
]

# menu key -> reply (the menu itself is published by the menu feature)
CLICKS: dict[str, dict[str, Any]] = {
    "MENU_VOTE": _text("vote"),
    "MENU_SIGNUP": _text("signup"),
    "MENU_SURVEY": _text("survey"),
    "MENU_COUNSELLING": _text("counselling"),
    "MENU_LEGAL": _text("legal"),
    "MENU_MEMBER": _text("member"),
    "MENU_NEARBY": _text("nearby"),
    "MENU_SERVICE": TRANSFER,
}


def content_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"_id": f"{PROVINCE}:welcome", "org": PROVINCE, "kind": "welcome", "name": "关注欢迎语",
         "reply": _text("welcome"), "enabled": True},
        {"_id": f"{PROVINCE}:default", "org": PROVINCE, "kind": "default", "name": "默认回复",
         "reply": _text("default"), "enabled": True},
    ]  # fmt: skip
    for suffix, name, match, patterns, priority, reply in KEYWORDS:
        docs.append({"_id": f"{PROVINCE}:kw:{suffix}", "org": PROVINCE, "kind": "keyword", "name": name,
                     "match": match, "patterns": patterns, "priority": priority, "reply": reply,
                     "enabled": True})  # fmt: skip
    for key, reply in CLICKS.items():
        docs.append({"_id": f"{PROVINCE}:click:{key}", "org": PROVINCE, "kind": "click", "name": key, "key": key,
                     "reply": reply, "enabled": True})  # fmt: skip
    return docs
