"""Telling members their birthday gift arrived: a template message when they follow the official account,
else a mini-program subscribe message (only if they consented; 43101 = refused, never an error).

At most once per gift: the notice is claimed (absent → sending) before the send; a crash in between
leaves it "sending" (unknown) rather than risking a second message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.deps import Deps
from core.wechat import WeChatError, WeChatTransportError
from services.birthdays import store
from services.birthdays.policy import DEFAULT_TEMPLATE
from services.followers import store as followers
from services.members import store as members
from services.members import users_store as mini_users

log = logging.getLogger(__name__)
PAGE = "pages/benefits/mine"


async def _follower_of(deps: Deps, member_id: str) -> tuple[str, str]:
    """(mini-program openid, subscribed official-account openid or "")."""
    member = await members.get(deps.db, member_id)
    if member is None or not member.bound_openid:
        return "", ""
    user = await mini_users.get(deps.db, member.bound_openid)
    follower_openid = user.follower_openid if user else ""
    if follower_openid:
        doc = await followers.get(deps.db, follower_openid)
        if not doc or not doc.get("subscribed"):
            follower_openid = ""
    return member.bound_openid, follower_openid


async def notify_one(deps: Deps, claim_id: str) -> str:
    if not await store.start_notice(deps.db, claim_id):
        return "skipped"
    claim = await store.get_claim(deps.db, claim_id)
    assert claim is not None
    template_id = claim.get("template_id") or DEFAULT_TEMPLATE
    mini_openid, follower_openid = await _follower_of(deps, claim["member_id"])
    data = {"thing1": {"value": claim["title"][:20]}, "time2": {"value": claim["birthday"]}}
    outcome = "no_account"
    try:
        if follower_openid:
            mp = {"appid": deps.settings.miniprogram.app_id, "pagepath": PAGE}
            await deps.oa.send_template(follower_openid, template_id, data, miniprogram=mp, client_msg_id=claim_id)
            outcome = "template"
        elif mini_openid:
            await deps.mp.send_subscribe(mini_openid, template_id, data, page=PAGE)
            outcome = "subscribe"
    except WeChatError as exc:
        outcome = "refused" if exc.errcode == 43101 else f"failed:{exc.errcode}"
    except (WeChatTransportError, TimeoutError):
        outcome = "unknown"
    await store.finish_notice(deps.db, claim_id, outcome)
    return outcome


async def notify_many(deps: Deps, claim_ids: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for claim_id in claim_ids:
        outcome = await notify_one(deps, claim_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
