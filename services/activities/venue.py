"""The venue check-in screen (现场签到码): a signed code for one session that rotates every 30 s
and stays valid for 60 s, drawn as a QR code for the mini-program's scanner, with the session's
live numbers (signed up, checked in).

Codes are derived from the clock window, not stored: every projector and every process shows
the same code for the same 30 s, and a photo of the screen sent to someone at home stops working
within a minute. The check-in itself is services.activities.checkin.check_in_code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import segno

from core.clock import from_timestamp, now
from core.deps import Deps
from core.errors import Conflict, NotFound
from services.activities import admin, checkin
from services.activities.flusher import state
from services.editors.scope import Scope

ROTATE_SECONDS = 30
VALID_SECONDS = 60


@dataclass(frozen=True)
class VenueCode:
    activity_id: str
    session_id: str
    code: str
    qr_svg: str  # a data: URI, so the page swaps one <img> source
    expires_at: datetime
    next_at: datetime  # when the next code appears
    confirmed: int
    checked_in: int


def rotating_code(deps: Deps, activity_id: str, session_id: str, at: datetime) -> tuple[str, datetime, datetime]:
    """(code, expires_at, next_at) of the window `at` falls in."""
    start = int(at.timestamp()) // ROTATE_SECONDS * ROTATE_SECONDS
    expires = from_timestamp(start + VALID_SECONDS)
    code = checkin.checkin_code(deps, activity_id, session_id, expires)
    return code, expires, from_timestamp(start + ROTATE_SECONDS)


def qr_data_uri(text: str) -> str:
    # Error correction M and a wide quiet zone: read from a projector across a room, at an angle.
    return str(segno.make(text, error="m", micro=False).svg_data_uri(scale=10, border=4))


async def venue_code(deps: Deps, scope: Scope, activity_id: str, session_id: str) -> VenueCode:
    doc = await admin.get(deps, scope, activity_id)
    if not any(s["id"] == session_id for s in doc["sessions"]):
        raise NotFound("该场次不存在", code="session_not_found")
    if doc["status"] != "published":
        raise Conflict("活动发布后才能显示现场签到码", code="activity_not_published")
    code, expires, next_at = rotating_code(deps, activity_id, session_id, now())
    numbers = await admin.numbers(deps, doc)
    checked = await state(deps).session_checkins(activity_id, [session_id])
    return VenueCode(
        activity_id,
        session_id,
        code,
        qr_data_uri(code),
        expires,
        next_at,
        numbers.get(session_id, (0, 0))[0],
        checked.get(session_id, 0),
    )
