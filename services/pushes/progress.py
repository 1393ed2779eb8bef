"""Live progress of a push and its per-recipient report (the console polls / downloads these).

`progress` reads one Redis hash and a few rate buckets — cheap enough to call every second per
watching editor; it falls back to MongoDB for runs whose mirror has expired. The report streams
a run chunk by chunk (never the whole run in memory) for a CSV download.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from core import clock
from core.deps import Deps
from core.errors import NotFound
from services.editors import exports as console_exports
from services.pushes import deliveries_store as deliveries
from services.pushes import runs_store as runs
from services.pushes.compose import _owned
from services.pushes.live import COUNTS, get_state, ownership_checked, remember_ownership
from services.pushes.receipts import MASS_TEXT, RECEIPT_TEXT

RUN_TEXT = {
    "running": "发送中", "paused": "已暂停", "quota_paused": "今日额度已用完，暂停中", "done": "已完成",
    "cancelled": "已取消", "failed": "发送失败", "skipped": "已跳过", "missed": "已错过",
}  # fmt: skip
STATUS_TEXT = {"sent": "已发送", "failed": "失败", "skipped": "已跳过", "unknown": "结果未知"}
CSV_HEADER = ("openid", "结果", "微信错误码", "原因", "消息ID", "时间", "送达回执")


async def progress(deps: Deps, push_id: str, *, editor_org: str, run_id: str | None = None) -> dict[str, Any]:
    """sent / failed / skipped / unknown / total, rate per second (last 10 s), ETA and status text.

    `status` is the run's: running, paused, quota_paused (with `paused_until`), done, ...;
    a push that has not run yet reports its own status with zero counts.
    """
    state = get_state(deps)
    push: dict[str, Any] | None = None
    if not await ownership_checked(deps.redis, editor_org, push_id):
        push = await _owned(deps, push_id, editor_org)
        await remember_ownership(deps.redis, editor_org, push_id)
    run_id = run_id or await state.current_run(push_id)
    if run_id is None:
        push = push or await _owned(deps, push_id, editor_org)
        run_id = push.get("current_run")
        if not run_id:
            return _empty(push_id, push["status"])
    fields = await state.run_fields(run_id) or await _from_mongo(deps, run_id)
    if not fields or fields.get("push", push_id) != push_id:
        raise NotFound("推送不存在或无权查看", code="push_not_found")
    shaped = await _shape(state, push_id, run_id, fields)
    run = await runs.get_run(deps.db, run_id)
    shaped["receipts"] = _receipts((run or {}).get("receipts"))
    return shaped


def _receipts(found: dict[str, Any] | None) -> dict[str, int]:
    """WeChat's reports so far (services/pushes/receipts.py): template receipts, mass batch counts."""
    return {k: int((found or {}).get(k, 0)) for k in (*RECEIPT_TEXT, *MASS_TEXT)}


def _empty(push_id: str, status: str) -> dict[str, Any]:
    return {"push_id": push_id, "run_id": None, "status": status, "status_text": "", "total": 0, "done": 0,
            **dict.fromkeys(COUNTS, 0), "percent": 0.0, "rate": 0.0, "eta_seconds": None,
            "paused_until": None, "counting": False, "receipts": _receipts(None)}  # fmt: skip


async def _from_mongo(deps: Deps, run_id: str) -> dict[str, str]:
    run = await runs.get_run(deps.db, run_id)
    if run is None:
        return {}
    totals = run.get("totals") or {}
    until = run.get("paused_until")
    return {
        "status": run["status"], "push": run["push"], "total": str(run["snap"].get("total", 0)),
        "snap_done": "1" if run["snap"].get("done") else "0", "reason": run.get("reason") or "",
        "paused_until": str(until.timestamp()) if until else "", **{k: str(totals.get(k, 0)) for k in COUNTS},
    }  # fmt: skip


async def _shape(state: Any, push_id: str, run_id: str, f: dict[str, str]) -> dict[str, Any]:
    counts = {k: max(0, int(f.get(k) or 0)) for k in COUNTS}
    done = sum(counts.values())
    counting = f.get("snap_done") != "1"
    total = max(int(f.get("total") or 0), done)
    status = f.get("status", "running")
    started = float(f.get("started") or 0)
    rate = await state.recent_rate(run_id, since=started) if status == "running" else 0.0
    left = max(0, total - done)
    until = float(f["paused_until"]) if f.get("paused_until") else None
    eta: float | None = None
    if status == "running" and not counting and left and rate > 0:
        eta = round(left / rate, 1)
    elif status in ("done",) or (not counting and not left):
        eta = 0.0
    text = RUN_TEXT.get(status, status)
    if status == "quota_paused" and until:
        text = f"今日额度已用完，将于 {clock.from_timestamp(until).strftime('%m-%d %H:%M')} 自动继续"
    elif counting and status == "running":
        text = "正在统计接收人并发送"
    return {
        "push_id": push_id, "run_id": run_id, "status": status, "status_text": text, "total": total,
        "done": done, **counts, "percent": round(100.0 * done / total, 1) if total else (0.0 if counting else 100.0),
        "rate": round(rate, 1), "eta_seconds": eta, "counting": counting, "reason": f.get("reason") or None,
        "paused_until": clock.from_timestamp(until).isoformat() if until else None,
    }  # fmt: skip


async def list_runs(deps: Deps, push_id: str, *, editor_org: str) -> list[dict[str, Any]]:
    """The push's runs, newest first (a recurring push has one per occurrence)."""
    await _owned(deps, push_id, editor_org)
    out = []
    for run in await runs.runs_of_push(deps.db, push_id):
        out.append({
            "run_id": run["_id"], "status": run["status"], "status_text": RUN_TEXT.get(run["status"], run["status"]),
            "occurrence": clock.localize(run["occurrence"]).isoformat(),
            "finished_at": clock.localize(run["finished_at"]).isoformat() if run.get("finished_at") else None,
            "total": run["snap"].get("total", 0), "totals": run.get("totals"), "reason": run.get("reason"),
            # past retention (services/pushes/retention.py): totals stay, the per-recipient report is gone
            "details_deleted_at": clock.localize(run["purged_at"]).isoformat() if run.get("purged_at") else None,
        })  # fmt: skip
    return out


async def report_rows(
    deps: Deps, push_id: str, *, editor_org: str, run_id: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every recipient of a run with its outcome, chunk by chunk. Recipients without a record yet
    are reported as 未发送 (a run still going, paused, or cancelled)."""
    push = await _owned(deps, push_id, editor_org)
    run_id = run_id or push.get("current_run")
    run = await runs.get_run(deps.db, run_id) if run_id else None
    if run is None or run["push"] != push_id:
        return
    for seq in await runs.chunk_seqs(deps.db, run):
        chunk = await runs.get_chunk(deps.db, run["_id"], seq)
        if chunk is None:
            continue
        openids = chunk["openids"]
        found = await deliveries.find(deps.db, [deliveries.record_id(run["_id"], o) for o in openids])
        for openid in openids:
            doc = found.get(deliveries.record_id(run["_id"], openid))
            if doc is None:
                yield {"openid": openid, "status": "pending", "status_text": "未发送", "errcode": None,
                       "reason": "", "msgid": None, "at": None, "receipt": ""}  # fmt: skip
                continue
            yield {
                "openid": openid, "status": doc["status"], "status_text": STATUS_TEXT.get(doc["status"], doc["status"]),
                "errcode": doc.get("errcode"), "reason": doc.get("reason", ""), "msgid": doc.get("msgid"),
                "at": clock.localize(doc["at"]).isoformat() if doc.get("at") else None,
                "receipt": RECEIPT_TEXT.get(doc.get("receipt", ""), ""),
            }  # fmt: skip


async def report_csv(deps: Deps, push_id: str, *, editor_org: str, run_id: str | None = None) -> AsyncIterator[str]:
    """The report as CSV text in pieces, through the one formula-safe writer every export uses
    (a WeChat reason or an openid list never becomes an Excel formula)."""

    async def rows() -> AsyncIterator[list[Any]]:
        yield list(CSV_HEADER)
        async for row in report_rows(deps, push_id, editor_org=editor_org, run_id=run_id):
            yield [row["openid"], row["status_text"], row["errcode"] if row["errcode"] is not None else "",
                   row["reason"], row["msgid"] or "", row["at"] or "", row["receipt"]]  # fmt: skip

    async for chunk in console_exports.csv_chunks(rows()):
        yield chunk
