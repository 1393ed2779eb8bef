"""Menu buttons by their click key: what the editor named the button the worker taps, so lists
show "投票" rather than MENU_VOTE. The nearest menu along the org path wins (a city's own menu,
then the province's default menu), a saved draft before the published one, the suggested menu last."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.deps import Deps
from services.menus import store
from services.menus.admin import SUGGESTED


def _walk(buttons: Iterable[Any], out: dict[str, str]) -> None:
    for b in buttons:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "click" and b.get("key") and b["key"] not in out:
            out[str(b["key"])] = str(b.get("name", ""))
        _walk(b.get("sub_button") or [], out)


async def click_names(deps: Deps, org_path: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for code in reversed(list(org_path)):
        doc = await store.get(deps.db, code)
        if doc:
            _walk(doc.get("draft") or [], names)
            _walk((doc.get("published") or {}).get("buttons") or [], names)
    _walk(SUGGESTED, names)
    return names
