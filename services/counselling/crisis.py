"""The crisis fast path: words that mean a worker may be in danger get the hotlines at once.

`crisis_reply(text)` is a pure function any surface calls on a worker's text (the bot's text path,
mini-program case texts, the booking intake). It never counsels and never diagnoses: it refers to
110 / 120 and the national psychological assistance hotline 12356, and says that the union's on-duty
counsellor was told. `alert_on_duty` records that alert for the counsellors on duty nearest the
worker's org (see alerts.py); callers run it after answering, so the reply never waits for it.
"""

from __future__ import annotations

import re

HOTLINE_REPLY = (
    "您的安全最重要。如果您或身边的人正面临危险，请立即拨打 110（报警）或 120（急救）。\n"
    "全国心理援助热线 12356（24 小时）随时可以倾听和帮助您。\n"
    "我们已通知工会值班心理咨询师。本消息为自动回复，只提供求助渠道，不是诊断。"
)

# Self-harm and harm to others. Lookaheads drop common harmless phrases (不想活动, 想死你了, 笑死).
CRISIS_PATTERNS = (
    r"自[杀殺]", r"轻生", r"寻死", r"自残", r"自尽", r"割腕", r"跳楼(?!价|甩卖|大甩卖)", r"跳河", r"跳江", r"上吊",
    r"服毒", r"喝农药", r"安眠药", r"遗书", r"不想活(?!动)", r"活不下去", r"活着没意思", r"活着没有意义",
    r"(?<!笑)想死(?!你|他|她|我了)", r"死了算了", r"不如死了", r"一死了之", r"结束(自己的)?生命",
    r"了结自己", r"伤害自己", r"[杀殺]了(他|她|他们|老板|自己)", r"同归于尽", r"报复社会",
)  # fmt: skip
_CRISIS = re.compile("|".join(CRISIS_PATTERNS))
# Every pattern contains one of these characters (a test keeps it so): a text without any is not
# searched at all, which keeps the check near 1 µs on the bot's hot path for most messages.
TRIGGERS = frozenset("杀殺生死残尽腕楼河江吊毒药遗活命己复")
_NOISE = re.compile(r"[\s\W_]+")


def normalize(text: str) -> str:
    """No spaces or punctuation (自 杀, 自！杀 still match). The words are all CJK ideographs, which
    NFKC leaves alone, so the costly normalisation (~16 µs for a sentence) is not needed."""
    return _NOISE.sub("", text)


def is_crisis(text: str) -> bool:
    if not text or TRIGGERS.isdisjoint(text):
        return False
    return _CRISIS.search(normalize(text)) is not None


def crisis_reply(text: str) -> str | None:
    """The hotline reply when `text` contains crisis words, else None. Pure: no I/O."""
    return HOTLINE_REPLY if is_crisis(text) else None
