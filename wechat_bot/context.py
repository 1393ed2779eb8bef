"""What a bot handler gets besides the message: the app's deps, the content snapshot, the follower's org."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import clock
from services.orgs.store import PROVINCE_CODE

if TYPE_CHECKING:
    from core.deps import Deps
    from services.replies.compile import CompiledReply, OrgContent, Snapshot
    from wechat_bot.message import Reply

PROVINCE_PATH = (PROVINCE_CODE,)


@dataclass(slots=True)
class Ctx:
    deps: Deps
    content: Snapshot
    org_path: tuple[str, ...] = PROVINCE_PATH  # the follower's org, province first; province if unbound

    def now(self) -> datetime:
        return clock.now()

    @property
    def extras(self) -> dict[str, Any]:
        return self.deps.extras

    def render(self, found: tuple[CompiledReply, OrgContent] | None, **values: Any) -> Reply | None:
        """A compiled reply rendered for this follower, or None when there is none."""
        if found is None:
            return None
        reply, org = found
        return reply.render(org_name=org.name, **values)
