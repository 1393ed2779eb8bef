"""The worker's home in 齐鲁工惠: their org's name and branding, the modules their city switched
on (each with its page), whom to call, and what is on now (polls, surveys, activities)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from services import counselling
from services.activities import browsing
from services.competitions import participation
from services.consultation import asking
from services.consultation import people as consult_people
from services.coupons import browsing as coupon_browsing
from services.learning import studying
from services.lotteries import entering
from services.members.sessions import CurrentUser
from services.orgs.store import PROVINCE_CODE
from services.polls import voting
from services.settings import effective
from services.settings.registry import BIND_PAGE, MODULES
from services.surveys import answering

BRAND = "齐鲁工惠"
ON_NOW = 3  # items per section on the home


@dataclass(frozen=True)
class Section:
    module: str  # the module key (a switched-off module shows no section)
    title: str
    page: str


SECTIONS = (
    Section("votes", "正在投票", "pages/votes/index"),
    Section("surveys", "问卷调查", "pages/surveys/index"),
    Section("activities", "惠工活动", "pages/activities/index"),
    Section("coupons", "正在抢券", "pages/coupons/index"),
    Section("lottery", "抽奖与公示", "pages/lottery/index"),
    Section("learning", "学习中的课程", "pages/learning/index"),
    Section("counselling", "我的心理咨询预约", "pages/counselling/index"),
    Section("consultation", "我的咨询", "pages/cases/index"),
    Section("competitions", "劳动竞赛", "pages/competitions/index"),
)


async def home(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    path = tuple(user.org_path) or (PROVINCE_CODE,)
    values = await effective.values_for_path(deps, path)
    enabled = {m.key for m in MODULES if values.get(f"modules.{m.key}")}
    on_now: list[dict[str, Any]] = []
    for section in SECTIONS:
        if section.module in enabled:
            items = await _items(deps, user, section.module)
            on_now.append({"module": section.module, "title": section.title, "page": section.page, "items": items})
    return {
        "org": path[-1],
        "brand": {
            "name": BRAND + str(values.get("brand.name_suffix") or ""),
            "banner_url": values.get("brand.banner_url") or "",
            "primary_color": values.get("brand.primary_color"),
        },
        "modules": [{"key": m.key, "name": m.name, "page": m.page} for m in MODULES if m.key in enabled],
        "contact": {
            "hotline": values.get("contact.hotline"),
            "service_centre_url": values.get("contact.service_centre_url") or "",
        },
        "member": {"bound": user.is_member, "bind_page": BIND_PAGE},
        "on_now": on_now,
    }


async def _items(deps: Deps, user: CurrentUser, module: str) -> list[dict[str, Any]]:
    """Up to ON_NOW items of a section, each {id, title}, from the capability's own worker view."""
    if module == "votes":
        items = (await voting.list_polls(deps, user, state="open", limit=ON_NOW))["items"]
    elif module == "surveys":
        items = (await answering.list_visible(deps, user, limit=ON_NOW))["items"]
    elif module == "activities":
        items = (await browsing.list_visible(deps, user, limit=ON_NOW))["items"]
    elif module == "coupons":
        items = (await coupon_browsing.page(deps, user, limit=ON_NOW)).items
    elif module == "lottery":
        items = (await entering.list_visible(deps, user, cursor="", limit=ON_NOW, live=True))["items"]
    elif module == "learning":  # the worker's courses in progress
        items = [{"id": c["course_id"], "title": c["title"]} for c in (await studying.mine(deps, user))["in_progress"]]
    elif module == "counselling":  # the one active booking (the home never names the counsellor's topic)
        booking = await counselling.booking.active(deps, user)
        items = (
            [{"id": booking["id"], "title": f"{booking['starts_at'][:16].replace('T', ' ')} {booking['status_text']}"}]
            if booking
            else []
        )
    elif module == "consultation":  # open cases
        who = await consult_people.from_mini_program(deps.db, user)
        cases, _ = await asking.my_cases(deps, who, open_only=True, limit=ON_NOW)
        items = [{"id": c["id"], "title": f"{c['category_name']}咨询 · {c['state_name']}"} for c in cases]
    else:  # competitions the worker's enterprise takes part in
        items = (await participation.list_for(deps, user, limit=ON_NOW))["items"]
    return [{"id": str(i["id"]), "title": str(i["title"])} for i in items[:ON_NOW]]
