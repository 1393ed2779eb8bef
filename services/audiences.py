"""Audiences: who a push goes to, streamed in resumable batches that become chunks.

Every source yields `Batch`es in a deterministic order with a `resume` key: given the `resume`
of the last batch written, the source continues right after it, so a snapshot interrupted by a
crash picks up exactly where it stopped (no recipient twice, none left out).

The editor's org bounds every audience: a city editor's "all followers" means the followers of
that city's subtree, and an uploaded openid outside it is skipped with a reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.orgs.store import PROVINCE_CODE
from services.pushes import audiences_store as q
from services.pushes import store as push_store

Db = AsyncDatabase[dict[str, Any]]
OUT_OF_SCOPE = "不在本单位关注者范围内"
UNSUBSCRIBED = "用户已取消关注"
MEMBER_BATCH = 500


@dataclass
class Batch:
    openids: list[str]
    resume: Any
    skips: dict[str, str] = field(default_factory=dict)  # openid -> reason (recorded as skipped)
    lia: list[int] = field(default_factory=list)  # last interaction (unix s, 0 = never), when asked


def follower_query(audience: dict[str, Any], org: str) -> dict[str, Any]:
    scope: dict[str, Any] = {} if org == PROVINCE_CODE else {"org_path": org}
    kind = audience["kind"]
    if kind == "all":
        return scope
    if kind == "tags":
        return {**scope, "tags": {"$in": audience["tags"]}}
    if kind == "orgs":  # every org was checked to lie inside the editor's subtree
        return {"org_path": {"$in": audience["orgs"]}}
    raise ValueError(kind)


def _ts(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


async def batches(
    db: Db, push: dict[str, Any], resume: Any, size: int, *, with_interaction: bool
) -> AsyncIterator[Batch]:
    audience, org = push["audience"], push["org"]
    kind = audience["kind"]
    if kind in ("all", "tags", "orgs"):
        source = _followers(db, follower_query(audience, org), resume, size, with_interaction)
    elif kind == "members":
        source = _members(db, audience.get("filter") or {}, org, resume, size)
    else:
        source = _upload(db, audience["upload_id"], org, resume)
    async for batch in source:
        yield batch


async def _followers(
    db: Db, query: dict[str, Any], after: str | None, size: int, with_interaction: bool
) -> AsyncIterator[Batch]:
    batch = Batch([], None)
    async for openid, last in q.stream_followers(db, query, after, with_interaction=with_interaction):
        batch.openids.append(openid)
        if with_interaction:
            batch.lia.append(_ts(last))
        if len(batch.openids) >= size:
            batch.resume = openid
            yield batch
            batch = Batch([], None)
    if batch.openids:
        batch.resume = batch.openids[-1]
        yield batch


async def _checked(db: Db, openids: list[str], org: str) -> Batch:
    """An uploaded list: unsubscribed and (below the province) out-of-scope openids become skips.

    The province may send to an openid we know nothing about and let WeChat answer; anyone else
    only reaches followers we know to be in their subtree.
    """
    facts = await q.followers_by_id(db, openids)
    batch = Batch([], None)
    for openid in openids:
        doc = facts.get(openid)
        if doc is not None and doc.get("subscribed") is False:
            batch.skips[openid] = UNSUBSCRIBED
        elif org != PROVINCE_CODE and (doc is None or org not in (doc.get("org_path") or ())):
            batch.skips[openid] = OUT_OF_SCOPE
        batch.openids.append(openid)
        batch.lia.append(_ts(doc.get("last_interaction_at")) if doc else 0)
    return batch


async def _upload(db: Db, upload_id: str, org: str, after: int | None) -> AsyncIterator[Batch]:
    header = await push_store.get_upload(db, upload_id)
    if header is None:
        return
    start = 0 if after is None else int(after) + 1
    async for page, openids in push_store.upload_pages(db, upload_id, int(header["pages"]), start):
        batch = await _checked(db, openids, org)
        batch.resume = page
        yield batch


async def _members(db: Db, flt: dict[str, Any], org: str, after: Any, size: int) -> AsyncIterator[Batch]:
    """Subscribed followers linked to members matching the filter (members of the editor's subtree).

    The member's org decides the scope here (the roster is the authority), not the follower's.
    """
    orgs = flt.get("orgs") or [org]
    pending: list[str] = []

    async def flush(resume: Any) -> Batch | None:
        openids = list(dict.fromkeys(await q.follower_openids_of_members(db, pending)))
        pending.clear()
        facts = await q.followers_by_id(db, openids)
        live = [o for o in openids if o in facts and facts[o].get("subscribed") is not False]
        if not live:
            return None
        lia = [_ts(facts[o].get("last_interaction_at")) for o in live]
        return Batch(live, resume, lia=lia)

    member_nos = flt.get("member_nos")
    if member_nos:  # an explicit list: walk it by position, keeping members of the chosen orgs
        start = 0 if after is None else int(after) + 1
        for i in range(start, len(member_nos), MEMBER_BATCH):
            part = member_nos[i : i + MEMBER_BATCH]
            pending += await q.members_in_orgs(db, part, orgs)
            if (batch := await flush(i + len(part) - 1)) is not None:
                yield batch
        return
    query = {"org_path": {"$in": orgs}} if len(orgs) > 1 else {"org_path": orgs[0]}
    last = after
    async for member_no in q.stream_members(db, query, after):
        pending.append(member_no)
        last = member_no
        if len(pending) >= min(size, MEMBER_BATCH) and (batch := await flush(last)) is not None:
            yield batch
    if pending and (batch := await flush(last)) is not None:
        yield batch
