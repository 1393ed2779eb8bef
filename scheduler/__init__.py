"""Scheduled pushes: the leader-only APScheduler (runner.py, leader.py, jobs.py) and the fan-out
workers every instance runs (services/pushes/fanout.py).

`start(deps)` is a start hook (app.py); `stop(deps)` winds both down gracefully: in-flight sends
finish and are recorded, chunks are given back clean, and leadership is released for another
instance to take at once.
"""

from __future__ import annotations

from functools import partial

from core.deps import Deps
from scheduler.runner import SchedulerRunner
from services.pushes import receipts as push_receipts
from services.pushes.fanout import Fanout
from services.pushes.live import load_tuning
from wechat_bot import hooks

RUNNER = "pushes.scheduler"
FANOUT = "pushes.fanout"


async def start(deps: Deps) -> None:
    hooks.on_report(deps, partial(push_receipts.on_report, deps))  # template messages' delivery receipts
    tuning = await load_tuning(deps.redis)  # operators may override the defaults in `push:settings`
    fan = Fanout(deps, tuning=tuning)  # re-reads `push:settings` every few seconds: rates change live
    deps.extras[FANOUT] = fan
    fan.start()
    runner = SchedulerRunner(deps, lock_ttl=tuning.leader_seconds)
    deps.extras[RUNNER] = runner
    deps.spawn(runner.run(), "push-scheduler")


async def stop(deps: Deps) -> None:
    runner = deps.extras.get(RUNNER)
    if isinstance(runner, SchedulerRunner):
        await runner.stop()
    fan = deps.extras.get(FANOUT)
    if isinstance(fan, Fanout):
        await fan.stop()
