"""Worker text: WeChat's content check (msgSecCheck v2) and ID-card masking for the console.

"risky" is refused with a Chinese message so the worker can rephrase; "review" is kept and held
for a person to look at (never dropped); when the check itself fails (WeChat busy, no
mini-program openid to check with) the text is held for review too: a worker's problem is
never lost because a filter was away.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from core.errors import BadInput
from core.wechat import WeChatError, WeChatTransportError
from core.wechat.apis import MiniProgramAPI

log = logging.getLogger(__name__)

SCENE_FORUM = 3  # msgSecCheck scenes: 1 profile, 2 comment, 3 forum, 4 social log

# 18-digit resident ID (last may be X) and the old 15-digit form, not inside a longer number.
_ID_CARD = re.compile(r"(?<![0-9])([1-9][0-9]{5})([0-9]{8}|[0-9]{6})([0-9]{3}[0-9Xx]|[0-9]{1})(?![0-9Xx])")


@dataclass(frozen=True)
class Verdict:
    suggest: str  # pass / review / risky / unchecked
    label: int = 0

    @property
    def held(self) -> bool:
        return self.suggest in ("review", "unchecked")

    def as_doc(self) -> dict[str, object]:
        return {"suggest": self.suggest, "label": self.label}


async def check(mp: MiniProgramAPI, mp_openid: str, text: str) -> Verdict:
    if not text.strip():
        return Verdict("pass", 100)
    if not mp_openid:
        return Verdict("unchecked")
    try:
        data = await mp.msg_sec_check(mp_openid, text[:2500], scene=SCENE_FORUM)
    except (WeChatError, WeChatTransportError) as exc:
        log.warning("msgSecCheck failed, holding the text for review: %s", exc)
        return Verdict("unchecked")
    result = data.get("result") or {}
    suggest = str(result.get("suggest") or "review")
    if suggest not in ("pass", "review", "risky"):
        suggest = "review"
    return Verdict(suggest, int(result.get("label") or 0))


def refuse_if_risky(v: Verdict) -> None:
    if v.suggest == "risky":
        raise BadInput(
            "内容含有不适宜发布的信息，请修改后再提交（如实描述遇到的劳动权益问题即可）", code="content_risky"
        )


def _mask(m: re.Match[str]) -> str:
    head, middle, tail = m.group(1), m.group(2), m.group(3)
    return head + "*" * (len(middle) + len(tail) - 1) + tail[-1]


def mask_ids(text: str) -> str:
    """ "370102199001011234" -> "370102***********4": staff never need the full number on screen."""
    return _ID_CARD.sub(_mask, text)
