"""Extension points other features plug into (kept in `deps.extras`, so no core edits are needed).

- check-in: a `checkin:<activity id>` QR scan goes to `services.activities.checkin.check_in_follower`
  unless another is registered (`register_checkin(deps, fn)`; fn(openid, activity_id) -> text);
- unfollow: every feature holding personal data about a follower deletes it when they leave
  (`on_unfollow(deps, fn)`; fn(openid));
- platform reports: TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH, PUBLISHJOBFINISH and the
  subscribe-message events reach the push feature (`on_report(deps, fn)`; fn(event, fields)).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.deps import Deps

CheckIn = Callable[[str, str], Awaitable[str]]
UnfollowHook = Callable[[str], Awaitable[None]]
ReportListener = Callable[[str, dict[str, Any]], Awaitable[None]]

CHECKIN = "bot.checkin"
UNFOLLOW = "bot.unfollow"
REPORTS = "bot.reports"


def register_checkin(deps: Deps, fn: CheckIn) -> None:
    deps.extras[CHECKIN] = fn


def checkin(deps: Deps) -> CheckIn | None:
    return deps.extras.get(CHECKIN)


def on_unfollow(deps: Deps, fn: UnfollowHook) -> None:
    deps.extras.setdefault(UNFOLLOW, []).append(fn)


def unfollow_hooks(deps: Deps) -> list[UnfollowHook]:
    return list(deps.extras.get(UNFOLLOW, ()))


def on_report(deps: Deps, fn: ReportListener) -> None:
    deps.extras.setdefault(REPORTS, []).append(fn)


def report_listeners(deps: Deps) -> list[ReportListener]:
    return list(deps.extras.get(REPORTS, ()))
