"""Editors' use cases for coupon batches: create (with the fair-share plan), close / reopen, watch
(live stock per bucket, Redis vs MongoDB), and review held grants (release / revoke). All audited."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict
from services.benefits import ledger
from services.benefits import store as ledger_store
from services.coupons import recovery, shares, store
from services.coupons.jobs import live
from services.editors import audit
from services.editors.scope import Scope
from services.members import store as members
from services.orgs import store as orgs
from services.surveys.questions import parse_time

MAX_STOCK = 10_000_000
MAX_WAVES = 12


@dataclass(frozen=True)
class WaveSpec:
    opens_at: datetime
    closes_at: datetime
    share: int


@dataclass(frozen=True)
class BatchSpec:
    title: str
    value_cents: int
    stock: int
    waves: list[WaveSpec]
    expires_at: datetime
    vendor_org: str = ""  # default: the batch's org


def _int(value: Any, label: str, code: str, low: int, high: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{label}应为整数", code=code) from None
    if isinstance(value, bool) or not low <= n <= high:
        raise BadInput(f"{label}应在 {low} 到 {high} 之间", code=code)
    return n


def parse_spec(data: dict[str, Any]) -> BatchSpec:
    """A batch from the console's JSON (times ISO 8601, Beijing time when no zone)."""
    title = str(data.get("title") or "").strip()
    if not 1 <= len(title) <= 40:
        raise BadInput("请填写券名称（不超过 40 字）", code="title")
    raw_waves = data.get("waves")
    if not isinstance(raw_waves, list) or not 1 <= len(raw_waves) <= MAX_WAVES:
        raise BadInput(f"请设置 1 到 {MAX_WAVES} 个抢券时段", code="waves")
    waves = []
    for i, w in enumerate(raw_waves, 1):
        if not isinstance(w, dict):
            raise BadInput(f"第 {i} 个时段格式不正确", code="waves")
        opens = parse_time(w.get("opens_at"), f"第 {i} 个时段的开始时间")
        closes = parse_time(w.get("closes_at"), f"第 {i} 个时段的结束时间")
        if closes <= opens:
            raise BadInput(f"第 {i} 个时段的结束时间应晚于开始时间", code="waves")
        waves.append(WaveSpec(opens, closes, _int(w.get("share", 1), f"第 {i} 个时段的份额", "waves", 1, 1000)))
    waves.sort(key=lambda w: w.opens_at)
    for a, b in zip(waves, waves[1:], strict=False):
        if b.opens_at < a.closes_at:
            raise BadInput("抢券时段不能重叠", code="waves")
    expires = parse_time(data.get("expires_at"), "券有效期")
    if expires <= waves[-1].closes_at:
        raise BadInput("券有效期应晚于最后一个抢券时段的结束时间", code="expires_at")
    return BatchSpec(
        title=title,
        value_cents=_int(data.get("value_cents", 0), "面值（分）", "value_cents", 0, 10_000_000),
        stock=_int(data.get("stock"), "发放总量", "stock", 1, MAX_STOCK),
        waves=waves,
        expires_at=expires,
        vendor_org=str(data.get("vendor_org") or ""),
    )


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


async def create(deps: Deps, scope: Scope, spec: BatchSpec) -> dict[str, Any]:
    """Plan the fair shares from today's roster, store the batch (journaled), then open it in Redis."""
    scope.require_write()
    owner = await scope.owner(deps.db)
    vendor_org = await scope.owner(deps.db, spec.vendor_org or owner.code)
    subs = await orgs.children(deps.db, owner.code)
    counts = {o.code: await members.count_in(deps.db, o.code) for o in subs}
    direct = max(0, await members.count_in(deps.db, owner.code) - sum(counts.values()))
    alloc = shares.plan(spec.stock, [w.share for w in spec.waves], counts, direct)
    batch_id = secrets.token_hex(6)
    doc = {
        "_id": batch_id, "org": owner.code, "org_path": list(owner.path), "title": spec.title,
        "value_cents": spec.value_cents, "vendor_org": vendor_org.code, "stock": spec.stock,
        "waves": [{"opens_at": w.opens_at, "closes_at": w.closes_at, "share": w.share} for w in spec.waves],
        "buckets": list(counts), "members": counts, "direct": direct, "alloc": alloc, "status": "open",
        "expires_at": spec.expires_at, "created_by": scope.editor.username, "created_at": now(),
    }  # fmt: skip
    await store.insert_batch(deps.db, doc)
    expire_at = int(spec.expires_at.timestamp()) + 86400
    waves = [(_ms(w.opens_at), _ms(w.closes_at)) for w in spec.waves]
    await live(deps).install(batch_id, org=owner.code, waves=waves, buckets=list(counts), alloc=alloc,
                             expire_at=expire_at)  # fmt: skip
    summary = f"新建抢券「{spec.title}」{spec.stock} 张，{len(spec.waves)} 个时段，{len(counts)} 个单位份额"
    await audit.record(deps.db, scope.editor, "create", "coupon_batch", batch_id, owner.path, summary=summary,
                       after={"stock": spec.stock, "alloc": alloc}, ip=scope.ip)  # fmt: skip
    return doc


async def get(deps: Deps, scope: Scope, batch_id: str) -> dict[str, Any]:
    return scope.check_doc(await store.get_batch(deps.db, batch_id), "抢券批次")


async def set_open(deps: Deps, scope: Scope, batch_id: str, open_: bool) -> None:
    """Close (stop every grab at once: the script reads the status) or reopen a batch."""
    scope.require_write()
    doc = await get(deps, scope, batch_id)
    status = "open" if open_ else "closed"
    if doc["status"] == status:
        raise Conflict("批次已是该状态", code="same_status")
    await live(deps).set_status(batch_id, status)
    await store.set_status(deps.db, batch_id, status)
    await audit.record(deps.db, scope.editor, "update", "coupon_batch", batch_id, doc["org_path"],
                       summary=f"{'恢复' if open_ else '停止'}发放「{doc['title']}」", ip=scope.ip)  # fmt: skip


@dataclass(frozen=True)
class BucketRow:
    org: str
    name: str
    members: int
    allotted: int  # over the waves opened so far
    left: int
    granted: int


@dataclass(frozen=True)
class Watch:
    batch: dict[str, Any]
    rows: list[BucketRow]
    pool_left: int
    granted_redis: int
    served_redis: int
    stored: int
    pending: int
    moves: list[dict[str, Any]]

    @property
    def agrees(self) -> bool:
        """Redis's grants = ledger documents + grants still waiting in the stream."""
        return self.granted_redis == self.stored + self.pending


async def watch(deps: Deps, scope: Scope, batch_id: str) -> Watch:
    doc = await get(deps, scope, batch_id)
    coupons = live(deps)
    if not await coupons.status(batch_id):
        await recovery.rebuild(deps, batch_id)
    await coupons.tick(batch_id, int(time.time() * 1000))
    stock = await coupons.stock(batch_id)
    opened, _ = await coupons.wave_state(batch_id)
    names = {o.code: o.name for o in await orgs.children(deps.db, doc["org"])}
    rows = []
    for code in [*doc["buckets"], shares.POOL]:
        allotted = sum(int(doc["alloc"].get(f"{w}:{code}", 0)) for w in range(1, opened + 1))
        name = names.get(code, "公共池（本级会员及各轮剩余）")
        size = int(doc["members"].get(code, doc["direct"]))
        rows.append(BucketRow(code, name, size, allotted, stock.get(code, 0), stock.get(f"got:{code}", 0)))
    pending = await _pending_grants(deps, batch_id)
    stored = await ledger_store.count_source(deps.db, f"cpn:{batch_id}")
    return Watch(doc, rows, stock.get(shares.POOL, 0), stock.get("_granted", 0), await coupons.served_count(batch_id),
                 stored, pending, await store.moves(deps.db, batch_id))  # fmt: skip


async def _pending_grants(deps: Deps, batch_id: str) -> int:
    entries = await live(deps).pending_of(batch_id, 100_000)
    prefix = f"g\tcpn:{batch_id}:"
    return sum(1 for _, f in entries if f["g"].startswith(prefix))


async def held(deps: Deps, scope: Scope, batch_id: str) -> list[ledger.Entitlement]:
    await get(deps, scope, batch_id)
    docs = await ledger_store.of_source(deps.db, f"cpn:{batch_id}", "held")
    return [ledger.from_doc(d) for d in docs]


async def flagged(deps: Deps, scope: Scope, batch_id: str) -> list[dict[str, Any]]:
    """Grants editors should look at: held, risk unknown or still pending, with their reasons."""
    await get(deps, scope, batch_id)
    docs = await ledger_store.of_source(deps.db, f"cpn:{batch_id}")
    return [d for d in docs if d.get("status") == "held" or d.get("risk") in ("unknown", "pending")]


async def review(deps: Deps, scope: Scope, batch_id: str, member_id: str, *, release: bool, note: str) -> None:
    """Release a held grant (held → granted) or revoke it (the coupon returns to the common pool)."""
    scope.require_write()
    doc = await get(deps, scope, batch_id)
    eid = ledger.entitlement_id(f"cpn:{batch_id}", member_id)
    note = note.strip()[:200]
    if release:
        done = await ledger.release(deps, eid, note=note or "审核通过")
        if done:
            await live(deps).restate(batch_id, member_id, "g")
    else:
        done = await ledger.revoke(deps, eid, reason=note or "审核未通过，已收回")
        if done:
            await live(deps).restate(batch_id, member_id, "x")
            await live(deps).give_back(batch_id)
    if not done:
        raise Conflict("该券不在待审核或可收回状态（可能已处理或已核销）", code="not_reviewable")
    await audit.record(deps.db, scope.editor, "update", "entitlement", eid, doc["org_path"],
                       summary=f"{'放行' if release else '收回'}：{note}", ip=scope.ip)  # fmt: skip


async def list_batches(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    return await store.batches_under(deps.db, scope.org)


def default_waves(start: datetime) -> list[dict[str, str]]:
    """10:00 / 16:00 / 22:00 for an hour each, from `start`'s day (the form's suggestion)."""
    day = start.replace(minute=0, second=0, microsecond=0)
    starts = [day.replace(hour=h) for h in (10, 16, 22)]
    return [
        {"opens_at": s.isoformat(), "closes_at": (s + timedelta(hours=1)).isoformat(), "share": "1"} for s in starts
    ]


GRANTS_HEADER = ["会员编号", "所属工会", "份额来源", "时段", "状态", "风险", "说明", "领取时间", "核销时间", "核销商户"]
STATUS = {"held": "待审核", "granted": "已发放", "redeemed": "已核销", "expired": "已过期", "revoked": "已收回"}
RISK = {"safe": "已检查", "held": "待审核", "unknown": "未知", "pending": "未检查"}


async def grants_rows(deps: Deps, scope: Scope, batch_id: str) -> list[list[Any]]:
    """The batch's grants for an export (editors' own subtree only)."""
    await get(deps, scope, batch_id)
    docs = await ledger_store.of_source(deps.db, f"cpn:{batch_id}", limit=10_000_000)
    rows: list[list[Any]] = [GRANTS_HEADER]
    for d in docs:
        bucket = "公共池" if d.get("bucket") == shares.POOL else d.get("bucket", "")
        rows.append([d["member_id"], d["org"], bucket, d.get("wave", ""), STATUS.get(d["status"], d["status"]),
                     RISK.get(d.get("risk", ""), ""), d.get("note", ""), d["granted_at"], d.get("redeemed_at"),
                     d.get("vendor_name", "")])  # fmt: skip
    return rows
