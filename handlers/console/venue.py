"""The venue check-in screen for a projector: a rotating signed QR code per activity session and
the session's live numbers; the page refreshes itself from the JSON twin (static/console/venue.js)."""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

from handlers.console.activities import ACTIVITY_ID
from handlers.console.base import ConsoleApi, ConsolePage
from services.activities import admin as console_activities
from services.activities import venue

SESSION_ID = r"([A-Za-z0-9_-]{1,32})"


class VenuePage(ConsolePage):
    nav: ClassVar[str] = "activities"

    async def get(self, activity_id: str, session_id: str) -> None:
        shown = await venue.venue_code(self.deps, self.scope, activity_id, session_id)
        doc = await console_activities.get(self.deps, self.scope, activity_id)
        session = next(s for s in doc["sessions"] if s["id"] == session_id)
        await self.render_page("console/venue.html", v=shown, activity=doc, sess=session)


class VenueApi(ConsoleApi):
    async def get(self, activity_id: str, session_id: str) -> None:
        self.write_json(asdict(await venue.venue_code(self.deps, self.scope, activity_id, session_id)))


routes = [
    (rf"/admin/activities/{ACTIVITY_ID}/checkin/{SESSION_ID}", VenuePage),
    (rf"/api/admin/activities/{ACTIVITY_ID}/checkin/{SESSION_ID}", VenueApi),
]
