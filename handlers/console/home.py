"""The console's front page (what is going on in the working org's subtree) and its static files."""

from __future__ import annotations

from typing import Any, ClassVar

import tornado.web

from core.deps import Deps
from handlers.console.base import ConsolePage
from handlers.console.render import STATIC_DIR
from services.editors import audit


class HomePage(ConsolePage):
    nav: ClassVar[str] = "home"

    async def get(self) -> None:
        db, org = self.deps.db, self.scope.org
        counts = {
            "polls": await db.polls.count_documents({"org_path": org, "status": "published"}),
            "surveys": await db.surveys.count_documents({"org_path": org, "status": "published"}),
            "activities": await db.activities.count_documents({"org_path": org, "status": "published"}),
            "pushes": await db.pushes.count_documents({"org_path": org}),
            "followers": await db.followers.count_documents({"org_path": org, "subscribed": {"$ne": False}}),
            "members": await db.members.count_documents({"org_path": org}),
        }
        recent = await audit.entries(db, self.scope.editor, org, limit=8)
        await self.render_page("console/home.html", counts=counts, recent=recent, describe=audit.describe)


class StaticFiles(tornado.web.StaticFileHandler):
    """/static/console/: CSS and JS, public (the login page needs them), cached by content hash."""

    def initialize(self, deps: Deps, route: str = "", **_: Any) -> None:  # type: ignore[override]
        super().initialize(path=str(STATIC_DIR))

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


routes = [
    (r"/admin/?", HomePage),
    (r"/static/console/(.*)", StaticFiles),
]
