"""Subscribe messages for sign-ups, always off the request path: confirmations and reminders.

- Confirmations: the sign-up script appends to its partition's stream `mp:su:notify:{act.N}` in the same
  atomic step as the decision. A consumer group shares each stream between instances; an entry is acknowledged
  BEFORE the send, so a message goes out at most once (a user's one-time consent is spent by each send,
  and a duplicate would spend the one meant for the reminder). Entries a crashed instance had read but
  not acknowledged were never sent, and are claimed by the others after a minute.
  Waitlisting sends nothing (the consent is kept for the promotion notice, which matters more).
- Reminders: `send_due_reminders` claims each due sign-up in MongoDB with find_one_and_update
  (pending -> sending), so two instances never send one twice; a claim whose instance died mid-send
  is given up after ten minutes (at most once, again on purpose).
- Every message about an activity passes its gate in Redis first (`send_begin`: still published?) and is
  counted in flight until sent; cancelling waits for those, so nothing goes out after a cancel answered.
- WeChat's 43101 (the user did not consent or spent it) is recorded as `refused`, never an error.
- A send that provably did not reach the user (WeChat unreachable before the request left, or -1 busy)
  is retried later with back-off (`services/activities/notify_retry_live.py` for confirmations, `remind_at` moved
  on for reminders): still never twice, since nothing was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

from core.clock import localize
from core.clock import now as clock_now
from core.deps import Deps
from core.outage import Backoff
from core.wechat import WeChatError
from core.wechat.errors import undelivered
from services.activities import notify_live, signups
from services.activities import notify_retry_live as notify_retry
from services.activities import signups_store as signups_repo
from services.activities.flusher import pause, stop_requested
from services.activities.live import split_id

log = logging.getLogger(__name__)
HEADLINE = {"confirmed": "报名成功", "promoted": "候补成功，已为您保留名额", "reminder": "活动即将开始"}
STALE_CLAIM = timedelta(minutes=10)
CONCURRENCY = 8
KINDS = ("confirmed", "promoted")
# Retries of a message WeChat provably did not deliver (never reached, or -1 busy), after the client's own
# quick retries: about 20 minutes in all, then it is recorded as failed.
RETRY_DELAYS = (5.0, 15.0, 60.0, 300.0, 900.0)
BATCH = 100  # confirmations read per stream and turn
IDLE_MIN, IDLE_MAX = 0.05, 0.5  # the notifier's pause between idle looks at the streams (seconds)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def template_for(deps: Deps, kind: str) -> str:
    """One subscribe-message template serves every kind; the headline in its data tells them apart."""
    return deps.settings.miniprogram.activity_notice_template_id


def message(doc: dict[str, Any], session: dict[str, Any], kind: str) -> dict[str, Any]:
    """Template data: `thing` values are at most 20 characters on WeChat."""
    title = f"{HEADLINE[kind]}：{doc['title']}"
    return {
        "thing1": {"value": title[:20]},
        "time2": {"value": localize(session["starts_at"]).strftime("%Y年%m月%d日 %H:%M")},
    }


async def send(deps: Deps, openid: str, doc: dict[str, Any], session_id: str, kind: str) -> str:
    """One subscribe message; returns sent, refused (43101), undelivered:<errcode> (WeChat not reached or
    busy: provably not delivered, may be retried) or failed:<errcode>."""
    session = signups.session_of(doc, session_id)
    page = f"pages/activity/detail?id={doc['_id']}"
    try:
        await deps.mp.send_subscribe(openid, template_for(deps, kind), message(doc, session, kind), page=page)
    except WeChatError as exc:
        if exc.errcode == 43101:
            return "refused"
        if undelivered(exc):
            log.warning("subscribe message %s to %s not delivered (will retry): %s", kind, openid, exc)
            return f"undelivered:{exc.errcode}"
        log.warning("subscribe message %s to %s failed: %s", kind, openid, exc)
        return f"failed:{exc.errcode}"
    return "sent"


def retry_delay(attempt: int) -> float | None:
    """Seconds before retry number `attempt` (1-based) of an undelivered message; None: give up."""
    return RETRY_DELAYS[attempt - 1] if attempt <= len(RETRY_DELAYS) else None


# --- confirmations ------------------------------------------------------------------------------
async def ensure_group(deps: Deps) -> None:
    await notify_live.ensure_groups(deps.redis)


async def _gated_send(deps: Deps, aid: str, openid: str, doc: dict[str, Any], sid: str, kind: str) -> str | None:
    """Send while the activity's gate says published (None when it does not); a cancel waits for us."""
    st = signups.state(deps)
    if not await st.send_begin(aid):
        return None
    try:
        return await send(deps, openid, doc, sid, kind)
    finally:
        await st.send_end(aid)


async def _confirm(deps: Deps, signup_id: str, kind: str, attempt: int = 0) -> dict[str, Any] | None:
    """Send one confirmation; returns its outcome row for signup_notices (None when nothing was sent, or
    when it was not delivered and waits for a retry)."""
    s = await signups.state(deps).get(signup_id)
    if s is None:  # an older release's sign-up (or a lost Redis): the activity's state is rebuilt first
        doc = await signups.activity(deps, split_id(signup_id)[0])
        if doc is not None:
            await signups.ensure_state(deps, doc)
            s = await signups.state(deps).get(signup_id)
    if s is None or s["status"] != "confirmed":
        return None  # cancelled meanwhile: nothing to confirm
    doc = await signups.activity(deps, s["aid"])
    if doc is None or doc["status"] != "published":
        return None
    outcome = await _gated_send(deps, s["aid"], s["uid"], doc, s["sid"], kind)
    if outcome is None:
        return None  # cancelled on some instance meanwhile (the gate, not this process's copy, says so)
    if outcome.startswith("undelivered:"):
        delay = retry_delay(attempt + 1)
        if delay is not None:
            due_ms = int((time.time() + delay) * 1000)
            await notify_retry.later(deps.redis, signup_id, kind, attempt + 1, due_ms)
            return None
        outcome = "failed:" + outcome.partition(":")[2]  # WeChat stayed unreachable: give up
    return {
        "_id": f"{signup_id}:{kind}", "signup_id": signup_id, "activity_id": s["aid"], "openid": s["uid"],
        "kind": kind, "outcome": outcome, "at": clock_now(),
    }  # fmt: skip


async def _handle(deps: Deps, stream: str, entries: list[tuple[str, dict[str, str]]]) -> int:
    if not entries:
        return 0
    ids = [eid for eid, _ in entries]
    await notify_live.forget(deps.redis, stream, ids)  # at most once: forget before sending
    todo = [(f["id"], f["kind"], int(f.get("attempt") or 0)) for _, f in entries if f.get("kind") in KINDS]
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(signup_id: str, kind: str, attempt: int) -> dict[str, Any] | None:
        async with limit:
            try:
                return await _confirm(deps, signup_id, kind, attempt)
            except Exception:  # noqa: BLE001 - one bad message must not stop the others
                log.exception("confirmation for %s failed", signup_id)
                return None

    rows = await asyncio.gather(*(one(i, k, a) for i, k, a in todo))
    await signups_repo.record_notices(deps.db, [r for r in rows if r is not None])
    return len(todo)


async def send_confirmations(deps: Deps, consumer: str | None = None, count: int = BATCH) -> int:
    """Read and send one batch of pending confirmations from every partition's stream that holds some
    (claiming a dead instance's leftovers first); returns how many were handled."""
    consumer = consumer or instance_name()
    await notify_retry.move_due(deps.redis, int(time.time() * 1000))  # undelivered ones whose retry is due
    done = 0
    for stream in await notify_live.waiting(deps.redis):
        done += await _handle(deps, stream, await notify_live.claim_stale(deps.redis, stream, consumer, count))
        done += await _handle(deps, stream, await notify_live.read_new(deps.redis, stream, consumer, count))
    return done


async def run_notifier(deps: Deps) -> None:
    """Every instance: send while there is work, poll with a growing pause (up to IDLE_MAX) when idle."""
    await ensure_group(deps)
    consumer = instance_name()
    backoff = Backoff()
    idle = IDLE_MIN
    while not stop_requested():
        try:
            n = await send_confirmations(deps, consumer)
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis hiccup: keep the loop alive
            log.exception("confirmation loop failed; retrying")  # one line per outage (core/outage.py)
            await pause(backoff.next())
            continue
        idle = IDLE_MIN if n else min(idle * 2, IDLE_MAX)
        # After a small batch, let the next one fill for IDLE_MIN: a turn looks at every partition (two
        # round trips) whatever it finds, so at a peak many confirmations should share one.
        await pause(0 if n >= BATCH else IDLE_MIN if n else idle)


# --- reminders ----------------------------------------------------------------------------------
async def _remind_one(deps: Deps, claim: dict[str, Any], at: datetime) -> str:
    doc = await signups.activity(deps, claim["activity_id"])
    session = next((s for s in (doc or {}).get("sessions", []) if s["id"] == claim["session_id"]), None)
    gated = None
    if doc is not None and doc["status"] == "published" and session is not None and session["starts_at"] > at:
        gated = await _gated_send(deps, claim["activity_id"], claim["openid"], doc, session["id"], "reminder")
    if gated is None:
        outcome = "missed"
    else:
        outcome = gated
        if outcome.startswith("undelivered:"):
            attempts = int(claim.get("reminder_attempts") or 0) + 1
            delay = retry_delay(attempts)
            if delay is not None:
                again = at + timedelta(seconds=delay)  # on the run's clock: not claimed again by this run
                await signups_repo.retry_reminder(deps.db, claim["_id"], again, attempts)
                return outcome
            outcome = "failed:" + outcome.partition(":")[2]
    await signups_repo.finish_reminder(deps.db, claim["_id"], outcome.split(":")[0], clock_now(), outcome)
    return outcome


async def send_due_reminders(deps: Deps, now: datetime | None = None, limit: int = 1000) -> int:
    """Send every reminder due at `now` (at most `limit` per call); returns how many were sent.

    Safe to run on every instance at once: each reminder is claimed atomically before it is sent.
    """
    at = now or clock_now()
    await signups_repo.abandon_stale_reminders(deps.db, at - STALE_CLAIM)
    claimer = instance_name()
    sent = 0
    claimed = 0

    async def worker() -> None:
        nonlocal sent, claimed
        while claimed < limit:
            claim = await signups_repo.claim_reminder(deps.db, at, claimer)
            if claim is None:
                return
            claimed += 1
            if await _remind_one(deps, claim, at) == "sent":
                sent += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return sent
