"""Finding a follower by name or member number (push previews), as JSON for the console's pages."""

from __future__ import annotations

from dataclasses import asdict

from handlers.console.base import ConsoleApi
from services.people import search


class PreviewTargetsApi(ConsoleApi):
    async def get(self) -> None:
        found = await search.preview_targets(self.deps, self.scope, self.get_argument("q", "")[:40])
        self.write_json({"items": [asdict(t) for t in found]})


routes = [(r"/api/admin/followers/search", PreviewTargetsApi)]
