"""E-reading records for e-books served by an external vendor: position, minutes, rankings.

- The position (chapter + offset) only moves forward: an older device reporting an earlier place does
  not overwrite it ($max on one combined number); the reader goes back only with an explicit 回到此处.
- Reading minutes per worker and day are capped at 240 (one Redis script decides; MongoDB gets the total).
- Rankings: minutes and readers per org one level below the chosen one, over the last N days.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput
from services.library import live, store
from services.members.sessions import CurrentUser
from services.orgs import store as orgs
from services.orgs import visibility

BOOK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CHAPTER_SPAN = 1_000_000_000  # offsets below this; chapter * span + offset orders positions


def _book(book: str) -> str:
    if not BOOK_ID.match(book):
        raise BadInput("电子书编号不正确", code="invalid_book")
    return book


def _int(raw: Any, label: str, lo: int, hi: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise BadInput(f"{label}应为 {lo} 到 {hi} 之间的整数", code="invalid_field")
    return raw


async def save_position(
    deps: Deps, user: CurrentUser, book: str, chapter: Any, offset: Any, rewind: Any
) -> dict[str, Any]:
    book = _book(book)
    ch, off = _int(chapter, "章节", 0, 100_000), _int(offset, "位置", 0, CHAPTER_SPAN - 1)
    if not isinstance(rewind, bool):
        raise BadInput("rewind 应为 true 或 false", code="invalid_field")
    doc = await store.set_position(deps.db, f"{user.openid}:{book}", {"openid": user.openid, "book": book,
                                   "updated_at": now()}, ch * CHAPTER_SPAN + off, rewind)  # fmt: skip
    pos = int(doc["pos"])
    return {"book": book, "chapter": pos // CHAPTER_SPAN, "offset": pos % CHAPTER_SPAN,
            "moved": pos == ch * CHAPTER_SPAN + off}  # fmt: skip


async def add_minutes(deps: Deps, user: CurrentUser, book: str, minutes: Any, idem: str = "") -> dict[str, Any]:
    _book(book)
    m = _int(minutes, "阅读分钟数", 1, 30)
    day = now().strftime("%Y%m%d")
    added, total, _ = await live.add_minutes(deps, user.openid, day, m, idem)
    if added:
        fields = {
            "openid": user.openid,
            "day": day,
            "org": user.org,
            "org_path": list(user.org_path) or [visibility.PROVINCE],
        }
        await store.record_minutes(deps.db, f"{user.openid}:{day}", fields, total)
    return {"added": added, "today": total, "cap": live.DAILY_CAP}


async def rankings(deps: Deps, user: CurrentUser, org: str, days: int) -> dict[str, Any]:
    """Minutes per org one level below `org` (which must be on the worker's own path) over `days` days."""
    if not 1 <= days <= 366:
        raise BadInput("天数应为 1 到 366", code="invalid_field")
    here = await orgs.get(deps.db, org or visibility.PROVINCE)
    if here is None:
        raise BadInput("工会组织不存在", code="invalid_org")
    visibility.check_visible(user, here.code, "排行")
    since = (now() - timedelta(days=days - 1)).strftime("%Y%m%d")
    rows = await store.reading_by(deps.db, here.code, f"org_path.{len(here.path)}", since)
    names = {c.code: c.name for c in await orgs.children(deps.db, here.code)}
    items = [{"rank": i, "org": r["org"] or here.code,
              "name": names.get(r["org"], "本级直属") if r["org"] else "本级直属",
              "minutes": r["minutes"], "readers": r["readers"]} for i, r in enumerate(rows, 1)]  # fmt: skip
    return {"org": here.code, "name": here.name, "days": days, "items": items}
