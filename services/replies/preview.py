"""Replies as the worker will read them, for editors' lists: the template rendered with sample
values (the working org's name, the default hotline), a mini-program link shown as its label,
a news reply as its first article's title. A template that cannot render says so in Chinese."""

from __future__ import annotations

from typing import Any

import jinja2

from services.replies import store
from services.replies.compile import Globals, make_env

PREVIEW_CHARS = 120


def _env() -> jinja2.Environment:
    env = make_env(Globals())

    def mp_link(path: str, label: str) -> str:
        return f"【{label}】"  # what the worker taps; the path is the editor's concern, not the reader's

    env.globals["mp_link"] = mp_link
    return env


_ENV = _env()


def rendered(reply: Any, org_name: str) -> str:
    """One line of what a reply shows; cut to PREVIEW_CHARS."""
    if not isinstance(reply, dict):
        return ""
    if reply.get("type", "text") == "text":
        try:
            text = _ENV.from_string(str(reply.get("text") or "")).render(org_name=org_name).strip()
        except jinja2.TemplateError as exc:
            return f"（无法显示：{exc}）"
    else:
        articles = reply.get("articles") or []
        text = str(articles[0].get("title", "")) if articles and isinstance(articles[0], dict) else ""
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


async def click_replies(db: Any, org_path: list[str], org_name: str) -> dict[str, str]:
    """Menu key -> the text a tap answers for the org at the end of `org_path` (nearest org wins)."""
    rank = {code: i for i, code in enumerate(org_path)}
    docs = sorted(await store.clicks_along(db, org_path), key=lambda d: -rank.get(d.get("org", ""), -1))
    out: dict[str, str] = {}
    for d in docs:
        if d.get("key") and d["key"] not in out and d.get("enabled") is not False:
            out[str(d["key"])] = rendered(d.get("reply"), org_name)
    return out
