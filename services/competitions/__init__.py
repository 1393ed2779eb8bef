"""劳动竞赛、技能竞赛、安康杯: competitions from 立项 to commendations, with blind, recused judging.

Lifecycle (model.STATUSES): draft (待立项, approved by the owner's parent org) -> registration -> in_progress
(stage reports) -> judging -> publicity (公示, >= 5 working days, appeals) -> final (commendations).

Modules: model (input rules), recusal (the org-tree conflict rule), assignment (balanced, deterministic),
scoring/results (results rebuilt from raw score rows), admin/entries/panel/closing/appeals (editors),
judging (judges), participation (workers), matrix (console views, exports), store (MongoDB).
"""

from __future__ import annotations

from typing import Any

from core.errors import BadInput
from services.competitions.admin import approve, create, listing, open_to_me, post_news, start_stages
from services.competitions.appeals import appeal, decide
from services.competitions.closing import finalize, publish
from services.competitions.entries import register, review_registration, review_report, submit_report
from services.competitions.judging import declare_conflicts, my_tasks, recuse, task_detail
from services.competitions.judging import submit as submit_score
from services.competitions.matrix import export_sheets, judging_matrix, overview
from services.competitions.model import KINDS, STATUSES, Competition
from services.competitions.panel import add_judge, judges_of, start_judging
from services.competitions.participation import detail, list_for, ranking
from services.editors.scope import Scope

__all__ = [
    "KINDS",
    "STATUSES",
    "Competition",
    "add_judge",
    "appeal",
    "approve",
    "create",
    "decide",
    "declare_conflicts",
    "detail",
    "export_sheets",
    "judges_of",
    "judging_matrix",
    "list_for",
    "listing",
    "my_tasks",
    "open_to_me",
    "overview",
    "post_news",
    "ranking",
    "recuse",
    "register",
    "review_registration",
    "review_report",
    "step",
    "submit_report",
    "submit_score",
    "task_detail",
]

_STEPS = {
    "approve": approve,
    "start_stages": start_stages,
    "start_judging": start_judging,
    "publish": publish,
    "finalize": finalize,
}


async def step(deps: Any, scope: Scope, cid: str, action: str) -> Competition:
    """One lifecycle step by name (the console's buttons)."""
    run = _STEPS.get(action)
    if run is None:
        raise BadInput("未知的操作", code="invalid_action")
    return await run(deps, scope, cid)
