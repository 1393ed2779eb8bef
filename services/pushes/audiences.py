"""Audiences: who a push goes to, streamed in resumable batches that become chunks.

Every source yields `Batch`es in a deterministic order with a `resume` key: given the `resume`
of the last batch written, the source continues right after it, so a snapshot interrupted by a
crash picks up exactly where it stopped (no recipient twice, none left out).

The editor's org bounds every audience: a city editor's "all followers" means the followers of
that city's subtree, and an uploaded openid outside it is skipped with a reason.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from services.followers import roster
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


# --- ranges ---------------------------------------------------------------------------------------
# An audience is cut in parallel: its key space (follower `_id`s, upload pages) is split into ranges
# `(lo, hi]` (None: unbounded) that together cover every key whatever the data, so the snapshot is
# exact however uneven the ranges come out; evenness only decides how well instances share the work.


MIN_CHUNKS_PER_RANGE = 4  # a range's last chunk is usually short: no more ranges than the audience fills


KeyStats = tuple[int, str, str]  # followers stored, lowest and highest subscribed openid


async def plan_ranges(
    db: Db, push: dict[str, Any], n: int, chunk_size: int, followers: KeyStats | None
) -> list[tuple[Any, Any]]:
    """At most `n` ranges covering the audience's whole key space, in key order.

    Follower audiences are split between the lowest and highest openid of all followers (`followers`,
    kept fresh in the background): openids are random past their account prefix, so a city's or a
    tag's followers spread over the same key space. The first and last ranges are open-ended, so a
    follower outside the bounds (newer than the figures) is still in exactly one range."""
    kind = push["audience"]["kind"]
    if kind in ("all", "tags", "orgs"):
        if followers is None or n <= 1:
            return [(None, None)]
        stored, low, high = followers
        n = min(n, -(-stored // (chunk_size * MIN_CHUNKS_PER_RANGE)))  # no more ranges than it fills
        return _ranges(split_points(low, high, n))
    if kind == "openids" and n > 1:
        header = await push_store.get_upload(db, push["audience"]["upload_id"])
        pages = int(header["pages"]) if header else 0
        pages_per_chunk = max(1, chunk_size // push_store.UPLOAD_PAGE)
        n = min(n, -(-pages // (pages_per_chunk * MIN_CHUNKS_PER_RANGE)))
        if n > 1:
            cuts = sorted({pages * i // n - 1 for i in range(1, n)} - {-1})
            return _ranges(cuts)
    return [(None, None)]  # members: one range (their order follows the roster, not the followers)


def _ranges(points: list[Any]) -> list[tuple[Any, Any]]:
    edges: list[Any] = [None, *points, None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


DIGITS = "0123456789"
BASE64URL = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"  # WeChat openids, in byte order


def split_points(low: str, high: str, n: int) -> list[str]:
    """Up to n-1 increasing keys inside [low, high) splitting it into n even parts, assuming the
    keys after their common prefix are spread evenly over their alphabet (random openids:
    base64url; numbered ids: digits). No data is read: the points are interpolated."""
    if n <= 1 or low >= high:
        return []
    common = 0
    while common < min(len(low), len(high)) and low[common] == high[common]:
        common += 1
    prefix, a, b = low[:common], low[common:], high[common:]
    alphabet = DIGITS if all(c in DIGITS for c in a + b) else "".join(sorted(set(BASE64URL + a + b)))
    base = len(alphabet)
    width = 1
    while base**width < n * 256 and width < 12:
        width += 1

    def number(text: str) -> int:
        value = 0
        for i in range(width):
            # a character outside the alphabet counts as the nearest one below it (order is kept)
            digit = max(0, bisect.bisect_right(alphabet, text[i]) - 1) if i < len(text) else 0
            value = value * base + digit
        return value

    def text(value: int) -> str:
        out = []
        for _ in range(width):
            value, digit = divmod(value, base)
            out.append(alphabet[digit])
        return prefix + "".join(reversed(out))

    start, end = number(a), number(b)
    points: list[str] = []
    for i in range(1, n):
        point = text(start + (end - start) * i // n)
        if low <= point < high and (not points or point > points[-1]):
            points.append(point)
    return points


# --- the roster ---------------------------------------------------------------------------------
# A push to followers of orgs (all of them, a city, a list of orgs) is cut from the followers' roster
# in Redis when it is complete (services/followers/roster.py), except a custom-message push, which
# needs each follower's last interaction from MongoDB. The roster is partitioned by openid; its key
# space is `PP|openid` (PP: the partition, two digits), and `PP}` is the end of partition PP (after
# any `PP|...`), so the ranges and resume keys above work on it unchanged.

ROSTER, DATABASE = "roster", "db"


def roster_sets(push: dict[str, Any], channel: str) -> list[str] | None:
    """The roster's sets the audience is the union of, or None when it is not cut from the roster."""
    audience = push["audience"]
    if channel == "custom":
        return None
    if audience["kind"] == "all":
        return roster.set_names([push["org"]])
    if audience["kind"] == "orgs":
        return roster.set_names(audience["orgs"])
    return None


def _roster_key(partition: int, openid: str) -> str:
    return f"{partition:02d}|{openid}"


def _partition_end(partition: int) -> str:
    return f"{partition:02d}}}"


def _decode(key: str) -> tuple[int, str | None]:
    """(partition, openid); openid None for the end of the partition."""
    return int(key[:2]), (key[3:] if key[2] == "|" else None)


async def plan_roster_ranges(redis: aioredis.Redis, sets: list[str], n: int, chunk_size: int) -> list[tuple[Any, Any]]:
    """At most about `n` ranges of the roster's key space, even by the sets' sizes per partition:
    fewer than the partitions group whole partitions, more split each partition between its lowest
    and highest openid."""
    counts = await roster.sizes(redis, sets)
    total = sum(counts)
    n = max(1, min(n, -(-total // (chunk_size * MIN_CHUNKS_PER_RANGE))))
    if n == 1:
        return [(None, None)]
    points: list[str] = []
    if n < roster.PARTITIONS:
        running, cut = 0, 1
        for p, count in enumerate(counts[:-1]):
            running += count
            if cut < n and running * n >= total * cut:
                points.append(_partition_end(p))
                while cut < n and running * n >= total * cut:
                    cut += 1
        return _ranges(points)
    for p, count in enumerate(counts):
        if p > 0:
            points.append(_partition_end(p - 1))
        parts = max(1, round(n * count / total)) if total else 1
        found = await roster.bounds(redis, p, sets) if parts > 1 else None
        if found is not None:
            points += [_roster_key(p, x) for x in split_points(found[0], found[1], parts)]
    return _ranges(points)


async def roster_batches(
    redis: aioredis.Redis, sets: list[str], after: str | None, upto: str | None, size: int
) -> AsyncIterator[Batch]:
    """The roster's followers with `after` < key <= `upto` (None: unbounded), in batches of `size`
    (partition by partition, in openid order in each); each batch's resume is its last key."""
    first, low = _decode(after) if after is not None else (0, None)
    if after is not None and low is None:  # after the end of a partition: the next one, whole
        first += 1
    last, high = _decode(upto) if upto is not None else (roster.PARTITIONS - 1, None)
    batch = Batch([], None)
    for p in range(first, last + 1):
        lo = low if p == first else None
        hi = high if p == last else None
        while True:
            want = size - len(batch.openids)
            openids = await roster.page(redis, p, sets, lo, hi, want)
            if openids:
                batch.openids += openids
                batch.resume = _roster_key(p, openids[-1])
            if len(batch.openids) >= size:
                yield batch
                batch = Batch([], None)
            if len(openids) < want:
                break
            lo = openids[-1]
    if batch.openids:
        yield batch


async def batches(
    db: Db, push: dict[str, Any], resume: Any, size: int, *, upto: Any = None, with_interaction: bool
) -> AsyncIterator[Batch]:
    """The audience after `resume` up to `upto` (inclusive; None: to the end) in batches."""
    audience, org = push["audience"], push["org"]
    kind = audience["kind"]
    if kind in ("all", "tags", "orgs"):
        source = _followers(db, follower_query(audience, org), resume, upto, size, with_interaction)
    elif kind == "members":
        source = _members(db, audience.get("filter") or {}, org, resume, size)
    else:
        source = _upload(db, audience["upload_id"], org, resume, upto)
    async for batch in source:
        yield batch


async def _followers(
    db: Db, query: dict[str, Any], after: str | None, upto: str | None, size: int, with_interaction: bool
) -> AsyncIterator[Batch]:
    batch = Batch([], None)
    stream = q.stream_followers(db, query, after, upto=upto, with_interaction=with_interaction)
    async for openid, last in stream:
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


async def _upload(db: Db, upload_id: str, org: str, after: int | None, upto: int | None) -> AsyncIterator[Batch]:
    header = await push_store.get_upload(db, upload_id)
    if header is None:
        return
    start = 0 if after is None else int(after) + 1
    end = int(header["pages"]) if upto is None else min(int(header["pages"]), int(upto) + 1)
    async for page, openids in push_store.upload_pages(db, upload_id, end, start):
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


async def estimate(db: Db, redis: aioredis.Redis, audience: dict[str, Any], org: str) -> int:
    """How many people the audience reaches now: what the editor confirms before a push is sent.
    One org's followers are counted in the roster when it is complete (a count per partition, where
    MongoDB counts index keys: seconds for a province)."""
    kind = audience.get("kind")
    sets = roster.set_names([org]) if kind == "all" else roster.set_names(audience.get("orgs") or [])
    if kind in ("all", "orgs") and len(sets) == 1 and await roster.ready(redis):
        return sum(await roster.sizes(redis, sets))
    if kind in ("all", "tags", "orgs"):
        return await q.count_followers(db, follower_query(audience, org))
    if kind == "members":
        flt = audience.get("filter") or {}
        return await q.count_linked_members(db, flt.get("orgs") or [org], flt.get("member_nos"))
    header = await push_store.get_upload(db, str(audience.get("upload_id") or ""))
    return int(header["count"]) if header else 0
