"""Opening a case by writing to the official account: "咨询 <问题>", then 确认; 人工 outside office hours.

The bot never opens a case on its own: the worker's text becomes a draft (Redis, 30 minutes) and
the case is opened only when they answer 确认 (the draft is taken atomically, so a repeated 确认
opens one case). Outside the desk's working hours a request for a human agent is answered with
how to leave the question as a case instead of a transfer nobody picks up.
"""

from __future__ import annotations

import re
from datetime import datetime

from core.clock import now
from core.deps import Deps
from core.errors import ServiceError
from services.consultation import asking, desks, live, people, store
from services.consultation.calendar import describe_hours
from services.consultation.model import CATEGORIES

PREFIX = re.compile(r"^\s*(?:我要)?(?:惠工咨询|法律咨询|法律援助|咨询)[\s:：,，。]*(?P<body>.{5,})$", re.S)
CONFIRM = frozenset({"确认", "确认咨询", "确认提交"})
HANDOFF = frozenset({"人工", "客服", "转人工", "人工客服", "在线客服"})
LIST_PAGE = "pages/cases/index"
_GUESS = (
    ("wage", ("欠薪", "工资", "拖欠", "欠钱", "加班费", "薪水", "工钱")),
    ("injury", ("工伤", "受伤", "伤残", "职业病", "事故")),
    ("contract", ("合同", "辞退", "开除", "解除", "试用期", "离职", "裁员", "赔偿金")),
    ("insurance", ("社保", "保险", "公积金", "医保", "养老")),
)


def wants(text: str) -> bool:
    """In-memory test the bot runs on every text: is this ours at all?"""
    t = text.strip()
    return t in CONFIRM or t in HANDOFF or PREFIX.match(t) is not None


def guess_category(text: str) -> str:
    for code, words in _GUESS:
        if any(w in text for w in words):
            return code
    return "other"


def link(deps: Deps, path: str, label: str) -> str:
    s = deps.settings
    return (f'<a href="{s.server.public_url}" data-miniprogram-appid="{s.miniprogram.app_id}" '
            f'data-miniprogram-path="{path}">{label}</a>')  # fmt: skip


async def answer(deps: Deps, oa_openid: str, org_path: tuple[str, ...], text: str, at: datetime | None = None) -> str:
    """The bot's reply, or "" when the message is not ours after all (office hours for 人工, no draft)."""
    at = at or now()
    t = text.strip()
    if t in HANDOFF:
        return await _handoff(deps, org_path, at)
    if t in CONFIRM:
        return await _confirm(deps, oa_openid, org_path, at)
    m = PREFIX.match(t)
    if m is None:
        return ""
    body = m.group("body").strip()[: asking.TEXT_MAX]
    category = guess_category(body)
    await live.save_draft(deps.redis, oa_openid, {"text": body, "category": category})
    return (f"您要咨询的问题（{CATEGORIES[category]}）：\n{body[:100]}\n\n回复【确认】提交给工会法律援助人员，"
            f"工作时间内答复；也可以在小程序中补充材料后提交：{link(deps, LIST_PAGE, '在线咨询')}")  # fmt: skip


async def _handoff(deps: Deps, org_path: tuple[str, ...], at: datetime) -> str:
    desk = await desks.route(deps.db, org_path, "other")
    cal = await desks.calendar_for(deps.db, desk.org_path)
    if cal.is_open(at):
        return ""  # office hours: the editors' 人工 rule transfers to an agent
    return (f"现在是非工作时间（工作时间：{describe_hours(cal)}），人工客服暂时无法接入。\n"
            "请发送“咨询+问题描述”，例如“咨询 公司拖欠我三个月工资”，回复【确认】后登记为咨询，"
            f"工作时间内由工会答复。也可以{link(deps, LIST_PAGE, '在小程序中提交咨询')}。\n"
            "紧急情况请拨打职工服务热线 12351。")  # fmt: skip


async def _confirm(deps: Deps, oa_openid: str, org_path: tuple[str, ...], at: datetime) -> str:
    draft = await live.take_draft(deps.redis, oa_openid)
    if draft is None:
        return ""
    who = await people.from_follower(deps.db, oa_openid, org_path)
    new = asking.NewCase(str(draft["category"]), str(draft["text"]))
    try:
        doc, _ = await asking.open_case(deps, who, new, channel="bot", at=at)
    except ServiceError as exc:
        if exc.status >= 500:
            await live.put_back_draft(deps.redis, oa_openid, draft)
        return exc.message
    except Exception:  # the database was away: keep the draft so the next 确认 can still open the case
        await live.put_back_draft(deps.redis, oa_openid, draft)
        raise
    page = asking.page_of(doc["_id"])
    return (f"已登记您的{CATEGORIES[doc['category']]}咨询，编号 {doc['_id']}。工会工作人员将在工作时间内答复，"
            f"答复会通过公众号消息通知您，全文可在{link(deps, page, '咨询页面')}查看。")  # fmt: skip


async def forget_follower(deps: Deps, oa_openid: str) -> None:
    """Unfollow hook: no draft and no official-account openid kept for someone who left."""
    await live.drop_draft(deps.redis, oa_openid)
    await store.forget_follower(deps.db, oa_openid)
