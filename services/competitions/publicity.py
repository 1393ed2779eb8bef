"""The 公示 notice: a draft push to the participating units' followers, prepared when results are published.

It stays a draft for the owner's editors to read and send from the push console (a push to thousands of
workers is never sent silently by a lifecycle button). The audience is the entrants' orgs; when there are
more than a push audience takes (200), entrants are grouped by their parent unions, level by level, never
above the owner.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from core.errors import ServiceError
from services.competitions import store
from services.competitions.model import Competition
from services.editors.scope import Scope
from services.pushes import compose as pushes

log = logging.getLogger(__name__)
MAX_ORGS = 200


def audience_orgs(paths: Sequence[Sequence[str]], owner: str, limit: int = MAX_ORGS) -> list[str]:
    """The fewest changes to `paths`' own orgs that fit `limit`: climb one level at a time towards `owner`."""
    current = [tuple(p) for p in paths if owner in p]
    while len({p[-1] for p in current}) > limit:
        climbed = [p[:-1] if p[-1] != owner and len(p) > list(p).index(owner) + 1 else p for p in current]
        if climbed == current:
            break
        current = climbed
    return sorted({p[-1] for p in current})


async def draft_push(deps: Any, scope: Scope, comp: Competition) -> tuple[str, str]:
    """(push id, "") when the draft was made, ("", why not) otherwise; publishing goes on either way."""
    entries = await store.entries(deps.db, comp.id, "approved")
    orgs = audience_orgs([e["org_path"] for e in entries], comp.org)
    ends = f"{comp.publicity_ends_at:%Y-%m-%d %H:%M}" if comp.publicity_ends_at else ""
    text = (
        f"【{comp.title}】评审结果公示至 {ends}，请在“齐鲁工惠”小程序“劳动竞赛”中查看排名。"
        "如有异议，请在公示期内由参赛单位通过所在工会提出申诉。"
    )
    data = {
        "title": f"{comp.title} 结果公示"[:60],
        "org": comp.org,
        "channel": "custom",
        "content": {"msgtype": "text", "text": text},
        "audience": {"kind": "orgs", "orgs": orgs},
        "schedule": {"kind": "now"},
    }
    try:
        push = await pushes.create(deps, data, editor_org=scope.root, editor=scope.editor.username)
    except ServiceError as exc:
        log.warning("competition %s: publicity push draft refused: %s", comp.id, exc.message)
        return "", exc.message
    await store.set_fields(deps.db, comp.id, {"publicity_push": push["id"]})
    return str(push["id"]), ""
