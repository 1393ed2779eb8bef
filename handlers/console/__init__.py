"""The editors' console: pages under /admin/, their JSON under /api/admin/ (see base.py for the rules)."""

from __future__ import annotations

from handlers.console import (
    activities,
    audit,
    auth,
    benefits,
    birthdays,
    coupons,
    editors,
    home,
    lotteries,
    menu,
    polls,
    pushes,
    qrcodes,
    replies,
    roster,
    surveys,
)

routes = [
    *auth.routes,
    *home.routes,
    *editors.routes,
    *audit.routes,
    *replies.routes,
    *menu.routes,
    *polls.routes,
    *surveys.routes,
    *activities.routes,
    *lotteries.routes,
    *birthdays.routes,
    *roster.routes,
    *qrcodes.routes,
    *pushes.routes,
    *coupons.routes,
    *benefits.routes,
]
