"""Crisis words in a worker's case text: the hotlines at once, and the on-duty counsellor alerted.

The bot checks every text it receives (wechat_bot/crisis.py); the mini-program's case texts pass
here, so a worker who writes it in a consultation is never left waiting for office hours.
"""

from __future__ import annotations

import logging

from core.deps import Deps
from services import counselling
from services.consultation.people import Requester

log = logging.getLogger(__name__)


async def help_for(deps: Deps, who: Requester, text: str) -> str | None:
    """The hotline reply when `text` holds crisis words (the alert raised), else None."""
    reply = counselling.crisis_reply(text)
    if reply is None:
        return None
    try:
        await counselling.alert_on_duty(
            deps, source="case", text=text, org_path=tuple(who.org_path), reach=who.mp_openid or who.person
        )
    except Exception:  # noqa: BLE001 - the worker still gets the hotlines; the alert failure is logged
        log.exception("crisis alert from a consultation text failed")
    return reply
