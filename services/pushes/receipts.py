"""Delivery receipts: did WeChat put a template message in front of the worker, and how much of a
mass batch did it send?

A moment after each template send WeChat posts TEMPLATESENDJOBFINISH to /wechat with the msgid and
a status: "success", "failed:user block" (the worker refused this account's messages) or
"failed: system failed". To turn that into a receipt on the delivery record:

- the send remembers msgid -> run in Redis (receipts_live: partitioned by day and part, 2 days):
  delivery records have no secondary index by design (a million-recipient run writes a million);
- the /wechat handler only appends the report to a stream partition (receipts_live): one Redis
  command, so a push's burst of reports never waits for MongoDB;
- the push supervisor (every instance, every second) reads the partitions through their consumer
  group (each entry goes to one instance), moves reports older than a few seconds (the delivery
  record is written in batches and may trail its report) onto the records and adds them up on the
  run, in batches, then acknowledges them. An update matches only a record without a receipt, and
  only matched records are counted, so an entry handled twice (its reader died after the write,
  before the XACK, and another instance claimed it) still counts each receipt once.

Mass sends work the same way per batch: MASSSENDJOBFINISH carries the batch's msgid and WeChat's
counts (total, filtered, sent, error), added to the run once per msgid.

Subscribe notices (订阅通知, `subscribe/bizsend`) are reported by subscribe_msg_sent_event, one
`List` item per notice with TemplateId, MsgID and ErrorStatus; but bizsend's answer carries no
msgid, so the send remembers `s:<template id>:<openid>` -> run instead (the latest run wins: one
person gets one notice of a template per consent, so two runs rarely share a key).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter, defaultdict
from typing import Any

from redis.exceptions import ResponseError

from core import clock
from core.deps import Deps
from services.pushes import deliveries_store as deliveries
from services.pushes import receipts_live as live
from services.pushes import runs_store as runs

log = logging.getLogger(__name__)

SETTLE_MS = 5_000  # a report younger than this may be ahead of its delivery record
BATCH = 1000
RECEIPT_TEXT = {"delivered": "已送达", "blocked": "用户拒收", "failed": "送达失败"}
MASS_TEXT = {"mass_filtered": "过滤后应发", "mass_sent": "微信已发出", "mass_error": "发送失败"}


def receipt_of(status: str) -> str:
    status = status.strip().lower()
    if status == "success":
        return "delivered"
    return "blocked" if "block" in status else "failed"


async def remember(deps: Deps, run_id: str, msgids: list[int]) -> None:
    """Called as a run records its template sends (mass: batches): msgid -> run, for the reports to find."""
    await _remember(deps, run_id, [str(m) for m in msgids])


async def remember_subscribe(deps: Deps, run_id: str, template_id: str, openids: list[str]) -> None:
    """Called as a run records its subscribe notices: (template, openid) -> run (bizsend gives no msgid)."""
    await _remember(deps, run_id, [_subscribe_key(template_id, o) for o in openids])


def _subscribe_key(template_id: str, openid: str) -> str:
    return f"s:{template_id}:{openid}"


async def _remember(deps: Deps, run_id: str, keys: list[str]) -> None:
    if not keys:
        return
    await live.remember(deps.redis, clock.now(), run_id, keys)


MASS_COUNTS = {"TotalCount": "mass_total", "FilterCount": "mass_filtered", "SentCount": "mass_sent",
               "ErrorCount": "mass_error"}  # fmt: skip


async def on_report(deps: Deps, event: str, fields: dict[str, Any]) -> None:
    """The /wechat listener (wechat_bot.hooks.on_report): queue the report, nothing more."""
    kind = event.upper()  # the bot passes event names lower-cased
    msgid, openid = str(fields.get("MsgID") or ""), str(fields.get("FromUserName") or "")
    if kind == "SUBSCRIBE_MSG_SENT_EVENT" and openid:
        for item in _sent_items(fields):
            template_id, status = str(item.get("TemplateId") or "")[:128], str(item.get("ErrorStatus") or "")[:60]
            if template_id:
                entry = {"k": "sub", "m": _subscribe_key(template_id, openid[:128]), "o": openid[:128], "s": status}
                await live.add_report(deps.redis, entry)
        return
    if not msgid.isdigit() or not openid:
        return
    status = str(fields.get("Status") or "")[:60]
    if kind == "TEMPLATESENDJOBFINISH":
        entry = {"m": msgid, "o": openid[:128], "s": status}
    elif kind == "MASSSENDJOBFINISH":  # one per mass batch: how many WeChat sent, filtered, failed
        entry = {"k": "mass", "m": msgid, "s": status}
        entry |= {short: str(_int(fields.get(name))) for name, short in MASS_COUNTS.items()}
    else:
        return
    await live.add_report(deps.redis, entry)


def _sent_items(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """subscribe_msg_sent_event's notices: one `List` element, or several (XML repeats, JSON arrays)."""
    event = fields.get("SubscribeMsgSentEvent")
    items = event.get("List") if isinstance(event, dict) else None
    if isinstance(items, dict):
        items = [items]
    return [i for i in items if isinstance(i, dict)][:100] if isinstance(items, list) else []


def _int(value: Any) -> int:
    text = str(value or "0").strip()
    return int(text) if text.isdigit() else 0


async def flush(
    deps: Deps, *, settle_ms: int = SETTLE_MS, consumer: str | None = None, claim_idle_ms: int = live.CLAIM_IDLE_MS
) -> int:
    """Apply queued reports older than `settle_ms` as `consumer` (one per process: the fan-out's
    owner); returns how many reports were handled (acknowledged)."""
    consumer = consumer or f"{socket.gethostname()}:{os.getpid()}"
    handled = 0
    legacy = await live.legacy_settled(deps.redis, settle_ms, BATCH)  # the stream before partitions
    if legacy:
        await _apply(deps, legacy)
        await live.legacy_delete(deps.redis, [entry_id for entry_id, _ in legacy])
        handled += len(legacy)
    try:
        read = await live.read(deps.redis, consumer, BATCH, claim_idle_ms)
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await live.ensure_groups(deps.redis)  # first run, or a Redis that lost its groups
        read = await live.read(deps.redis, consumer, BATCH, claim_idle_ms)
    cutoff = int(time.time() * 1000) - settle_ms
    ready = {key: [e for e in entries if live.entry_ms(e[0]) <= cutoff] for key, entries in read.items()}
    entries = [e for part in ready.values() for e in part]
    if entries:
        await _apply(deps, entries)  # journaled writes first ...
        await live.done(deps.redis, {key: [i for i, _ in part] for key, part in ready.items()})  # ... then XACK
    return handled + len(entries)


async def _apply(deps: Deps, entries: list[tuple[str, dict[str, str]]]) -> None:
    runs_of = await live.runs_of(deps.redis, clock.now(), sorted({f["m"] for _, f in entries if "m" in f}))
    by_run: dict[str, dict[str, list[tuple[str, int | None]]]] = defaultdict(lambda: defaultdict(list))
    for _, f in entries:
        run_id = runs_of.get(f.get("m", ""))
        if run_id is None:  # not one of ours (a preview, or sent by another system): ignored
            continue
        if f.get("k") == "mass":
            counts = {short: int(f.get(short) or 0) for short in MASS_COUNTS.values()}
            await runs.add_mass_report(deps.db, run_id, int(f["m"]), counts)
        else:  # template: the record with that msgid; subscribe: the person's record (no msgid)
            by_run[run_id][receipt_of(f["s"])].append((f["o"], None if f.get("k") == "sub" else int(f["m"])))
    at = clock.now()
    for run_id, kinds in by_run.items():
        applied: Counter[str] = Counter()
        for receipt, items in kinds.items():
            applied[receipt] += await deliveries.set_receipts(deps.db, run_id, items, receipt, at)
        if +applied:
            await runs.add_receipts(deps.db, run_id, dict(+applied))
