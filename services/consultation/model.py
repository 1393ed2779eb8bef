"""The consultation case's vocabulary: categories, states, event kinds, and the transitions between states.

A case is its event log: `opened`, `claimed`, `reply` (staff answer; `ask` marks "waiting for the
worker"), `wait` (staff pause the clock without answering, e.g. after a phone call), `worker`
(the worker writes again), `resolved`, `referred`, `reopened`, `closed`, `escalated`,
`approved` (a human released text that the content check held for review). The state stored
on the document is the last transition's target, changed in the same guarded update that
appends the event, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import localize

CATEGORIES = {"wage": "欠薪", "injury": "工伤", "contract": "劳动合同", "insurance": "社保", "other": "其他"}
URGENT = frozenset({"wage", "injury"})  # first reply within 2 working hours
URGENT_SECONDS = 2 * 3600

STATES = {
    "queued": "待认领",
    "assigned": "处理中",
    "replied": "已答复",
    "waiting_worker": "等待职工补充",
    "resolved": "已解决",
    "referred": "已转办",
    "closed": "已关闭",
}
OPEN_STATES = frozenset({"queued", "assigned", "replied", "waiting_worker"})
REOPEN_DAYS = 30
CLOSE_AFTER_DAYS = 7

# action -> (states it may start from, state it leads to); None target = decided by the action
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "claimed": (frozenset({"queued"}), "assigned"),
    "reply": (frozenset({"assigned", "replied", "waiting_worker"}), "replied"),
    "ask": (frozenset({"assigned", "replied", "waiting_worker"}), "waiting_worker"),
    "wait": (frozenset({"assigned", "replied"}), "waiting_worker"),
    "worker": (frozenset({"queued", "assigned", "replied", "waiting_worker"}), None),
    "resolved": (frozenset({"assigned", "replied", "waiting_worker"}), "resolved"),
    "referred": (frozenset({"queued", "assigned", "replied", "waiting_worker"}), "referred"),
    "closed": (frozenset({"resolved"}), "closed"),
    "reopened": (frozenset({"resolved", "closed"}), "queued"),
}


def category_code(value: Any) -> str | None:
    """Accepts the code (wage) or the Chinese name (欠薪)."""
    if value in CATEGORIES:
        return str(value)
    for code, name in CATEGORIES.items():
        if value == name:
            return code
    return None


def target_seconds(category: str, day_seconds: int) -> int:
    """First-reply target: 2 working hours for 欠薪 / 工伤, one working day otherwise."""
    return URGENT_SECONDS if category in URGENT else day_seconds


def after_worker(state: str, has_assignee: bool) -> str:
    """A worker writing again puts the case back in front of the union."""
    if state == "queued":
        return "queued"
    return "assigned" if has_assignee else "queued"


@dataclass(frozen=True)
class Event:
    kind: str
    at: datetime
    by: str = ""  # staff username, "worker" or "system"

    @staticmethod
    def from_doc(doc: dict[str, Any]) -> Event:
        return Event(str(doc["kind"]), localize(doc["at"]), str(doc.get("by", "")))
