"""心理咨询 counselling: counsellors publish availability, workers book a slot, privately.

Surfaces use only what is exported here. Workers: booking.py (list, hold, confirm, cancel, mine).
Counsellors: desk.py (their own calendar, availability, on-duty, no-shows, approvals) and alerts.py.
Editors: reports.py (counts per org and month with k >= 5). Everyone: crisis.py — `crisis_reply(text)`
and `alert_on_duty(...)` for any worker text on any surface.
"""

from services.counselling import booking, desk, jobs, reports
from services.counselling.alerts import acknowledge, alert_on_duty, for_counsellor
from services.counselling.crisis import HOTLINE_REPLY, crisis_reply, is_crisis
from services.counselling.store import ensure_indexes

__all__ = [
    "HOTLINE_REPLY",
    "acknowledge",
    "alert_on_duty",
    "booking",
    "crisis_reply",
    "desk",
    "ensure_indexes",
    "for_counsellor",
    "is_crisis",
    "jobs",
    "reports",
]
