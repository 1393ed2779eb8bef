"""The editors' console: pages under /admin/, their JSON under /api/admin/ (see base.py for the rules)."""

from __future__ import annotations

from handlers.console import audit, auth, editors, home, menu, replies

routes = [
    *auth.routes,
    *home.routes,
    *editors.routes,
    *audit.routes,
    *replies.routes,
    *menu.routes,
]
