"""The editors' console: pages under /admin/, their JSON under /api/admin/ (see base.py for the rules)."""

from __future__ import annotations

from handlers.console import (
    activities,
    audit,
    auth,
    editors,
    home,
    members,
    menu,
    people,
    polls,
    pushes,
    qrcodes,
    replies,
    roster,
    settings,
    surveys,
    venue,
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
    *venue.routes,
    *roster.routes,
    *members.routes,
    *people.routes,
    *qrcodes.routes,
    *pushes.routes,
    *settings.routes,
]
