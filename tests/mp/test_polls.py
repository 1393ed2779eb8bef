"""Votes through the HTTP API: rules, limits, visibility, and counts that always match what is stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from services.members.roster import import_roster
from services.polls import ballots_store as ballots
from services.polls import definitions as polls
from services.polls import voting as votes
from services.polls.live import key as poll_key
from tests.mp.conftest import MpClient
from tests.mp.polls_helpers import make_poll, stored_counts, wait_flushed
from tests.mp.roster_files import ROSTER, csv_bytes


def url(poll: dict[str, Any], tail: str = "") -> str:
    return f"/api/mp/polls/{poll['_id']}{tail}"


async def _member(mp: MpClient, deps: Deps, openid: str, name: str = "张三", phone: str = "13800138000") -> str:
    if not await deps.db.members.count_documents({}):
        await import_roster(deps, "370100", csv_bytes(ROSTER), "r.csv")
    token = await mp.login(openid)
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": name, "phone": phone}, token)
    assert status == 200
    return token


async def test_vote_once_and_see_counts_live_and_stored(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps)
    token = await mp.login("o_v1")
    status, page = await mp.call("GET", "/api/mp/polls", token=token)
    assert status == 200 and [p["id"] for p in page["items"]] == [poll["_id"]]
    assert page["items"][0]["state"] == "open" and page["next_cursor"] is None
    status, detail = await mp.call("GET", url(poll), token=token)
    assert status == 200 and detail["my"] == {"used": 0, "remaining": 1, "can_vote": True, "reason": ""}
    assert [o["count"] for o in detail["options"]] == [0, 0, 0, 0]
    status, data = await mp.call("POST", url(poll, "/ballots"), {"options": ["o2"]}, token)
    assert status == 201 and data == {"ballot_id": f"{poll['_id']}:o_v1:{now():%Y%m%d}:1", "remaining": 0}
    status, again = await mp.call("POST", url(poll, "/ballots"), {"options": ["o3"]}, token)
    assert status == 409 and again == {"code": "ballot_limit", "message": "您已经投过票了"}
    status, detail = await mp.call("GET", url(poll), token=token)
    assert [o["count"] for o in detail["options"]] == [0, 1, 0, 0]
    assert [o["rank"] for o in detail["options"]] == [2, 1, 2, 2]
    assert detail["total_ballots"] == 1 and detail["voters"] == 1
    assert detail["my"]["can_vote"] is False and detail["my"]["reason"] == "您已投过票"
    await wait_flushed(deps)
    assert await ballots.option_counts(deps.db, poll["_id"]) == {"o2": 1}
    status, mine = await mp.call("GET", url(poll, "/ballots/mine"), token=token)
    assert mine["used"] == 1 and mine["items"][0]["options"] == ["o2"]


async def test_multiple_choice_rules(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps, multiple=True, max_choices=2)
    token = await mp.login("o_m1")
    cases = [
        ({"options": ["o1", "o2", "o3"]}, 400, "too_many_options", "最多只能选 2 项"),
        ({"options": ["o1", "o1"]}, 400, "invalid_field", "不能有重复项"),
        ({"options": ["o9"]}, 400, "invalid_option", "刷新"),
        ({"options": []}, 400, "invalid_field", "至少需要 1 项"),
        ({"options": "o1"}, 400, "invalid_field", "应为数组"),
        ({"options": ["o1"], "extra": True}, 400, "invalid_field", "不认识的字段"),
        ({"options": [1]}, 400, "invalid_field", "应为文本"),
    ]
    for body, status, code, text in cases:
        got_status, data = await mp.call("POST", url(poll, "/ballots"), body, token)
        assert (got_status, data["code"]) == (status, code), body
        assert text in data["message"], data
    status, _ = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1", "o3"]}, token)
    assert status == 201
    status, detail = await mp.call("GET", url(poll), token=token)
    assert [o["count"] for o in detail["options"]] == [1, 0, 1, 0] and detail["total_ballots"] == 1


async def test_ballots_per_day_reset_the_next_day(mp: MpClient, deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    poll = await make_poll(deps, limit={"per": "day", "count": 3})
    token = await mp.login("o_d1")
    for left in (2, 1, 0):
        status, data = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, token)
        assert status == 201 and data["remaining"] == left
    status, data = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, token)
    assert status == 409 and data["message"] == "您今天的 3 次投票机会已用完，明天再来吧"
    tomorrow = now() + timedelta(days=1)
    monkeypatch.setattr(votes, "now", lambda: tomorrow)
    status, data = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, token)
    assert status == 201 and data["ballot_id"].endswith(f":{tomorrow:%Y%m%d}:1")
    assert await stored_counts(deps, poll["_id"]) == {"o1": 4}
    assert len({d["_id"] for d in await ballots.mine(deps.db, poll["_id"], "o_d1")}) == 4


async def test_open_and_close_times_and_closing_early(mp: MpClient, deps: Deps) -> None:
    later = await make_poll(deps, opens_at=now() + timedelta(days=1), closes_at=now() + timedelta(days=2))
    over = await make_poll(deps, opens_at=now() - timedelta(days=2), closes_at=now() - timedelta(seconds=1))
    running = await make_poll(deps)
    token = await mp.login("o_t1")
    status, data = await mp.call("POST", url(later, "/ballots"), {"options": ["o1"]}, token)
    assert status == 409 and data["code"] == "poll_not_started" and "开始时间" in data["message"]
    status, data = await mp.call("POST", url(over, "/ballots"), {"options": ["o1"]}, token)
    assert status == 409 and data["code"] == "poll_closed"
    await polls.close(deps, "370000", running["_id"])
    status, data = await mp.call("POST", url(running, "/ballots"), {"options": ["o1"]}, token)
    assert status == 409 and data["code"] == "poll_closed"
    status, page = await mp.call("GET", "/api/mp/polls?state=open", token=token)
    assert page["items"] == []
    status, page = await mp.call("GET", "/api/mp/polls?state=ended", token=token)
    assert {p["id"] for p in page["items"]} == {over["_id"], running["_id"]}


async def test_members_only_and_visibility_down_the_tree(mp: MpClient, deps: Deps) -> None:
    province_members = await make_poll(deps, members_only=True)
    jinan = await make_poll(deps, org="370100")
    qingdao = await make_poll(deps, org="370200")
    draft = await make_poll(deps, publish=False)
    guest = await mp.login("o_guest")
    status, page = await mp.call("GET", "/api/mp/polls", token=guest)
    assert {p["id"] for p in page["items"]} == {province_members["_id"]}
    status, data = await mp.call("POST", url(province_members, "/ballots"), {"options": ["o1"]}, guest)
    assert status == 403 and data["code"] == "members_only" and "绑定" in data["message"]
    for hidden in (jinan, qingdao, draft):
        assert (await mp.call("GET", url(hidden), token=guest))[0] == 404
        assert (await mp.call("POST", url(hidden, "/ballots"), {"options": ["o1"]}, guest))[0] == 404
    member = await _member(mp, deps, "o_member")
    status, page = await mp.call("GET", "/api/mp/polls", token=member)
    assert {p["id"] for p in page["items"]} == {province_members["_id"], jinan["_id"]}
    assert (await mp.call("POST", url(province_members, "/ballots"), {"options": ["o1"]}, member))[0] == 201
    assert (await mp.call("POST", url(jinan, "/ballots"), {"options": ["o1"]}, member))[0] == 201
    assert (await mp.call("POST", url(qingdao, "/ballots"), {"options": ["o1"]}, member))[0] == 404


async def test_anti_brushing_per_user_and_per_ip(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(
        deps, limit={"per": "day", "count": 50}, anti_brush={"user_per_minute": 2, "ip_per_minute": 4}
    )
    tokens = [await mp.login(f"o_b{i}") for i in range(3)]
    results = [(await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, tokens[0]))[0] for _ in range(3)]
    assert results == [201, 201, 429]
    assert (await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, tokens[1]))[0] == 201
    assert (await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, tokens[1]))[0] == 201
    status, data = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, tokens[2])
    assert status == 429 and data["code"] == "rate_limited"  # the IP's 4 a minute are spent
    assert await stored_counts(deps, poll["_id"]) == {"o1": 4}


async def test_unknown_polls_are_404(mp: MpClient, deps: Deps) -> None:
    token = await mp.login("o_u1")
    for pid in ("0123456789ab", "nope", "x" * 64):
        assert (await mp.call("GET", f"/api/mp/polls/{pid}", token=token))[0] == 404
        status, data = await mp.call("POST", f"/api/mp/polls/{pid}/ballots", {"options": ["o1"]}, token)
        assert status == 404 and data["code"] == "poll_not_found"
    status, data = await mp.call("GET", "/api/mp/polls?cursor=bad", token=token)
    assert status == 400 and data["code"] == "invalid_cursor"
    status, data = await mp.call("GET", "/api/mp/polls?limit=0", token=token)
    assert status == 400


async def test_list_pages_with_a_cursor(mp: MpClient, deps: Deps) -> None:
    made = [await make_poll(deps, opens_at=now() - timedelta(hours=i + 1)) for i in range(5)]
    token = await mp.login("o_p1")
    seen: list[str] = []
    cursor = ""
    while True:
        status, page = await mp.call("GET", f"/api/mp/polls?limit=2&cursor={cursor}", token=token)
        assert status == 200
        seen += [p["id"] for p in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert seen == [p["_id"] for p in made]


async def test_counts_lost_in_redis_are_rebuilt_from_mongodb(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps, multiple=True, max_choices=2)
    tokens = [await mp.login(f"o_r{i}") for i in range(6)]
    for i, t in enumerate(tokens):
        assert (await mp.call("POST", url(poll, "/ballots"), {"options": [f"o{1 + i % 3}", "o4"]}, t))[0] == 201
    before = (await mp.call("GET", url(poll), token=tokens[0]))[1]
    pid = poll["_id"]
    await deps.redis.delete(poll_key(pid, "counts"), poll_key(pid, "u"))  # e.g. an operator's mistake
    after = (await mp.call("GET", url(poll), token=tokens[0]))[1]
    assert [o["count"] for o in after["options"]] == [o["count"] for o in before["options"]] == [2, 2, 2, 6]
    assert after["voters"] == 6 and after["total_ballots"] == 6
    status, _ = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, tokens[0])
    assert status == 409  # the per-user limit came back too
    # A completely flushed Redis: sessions are gone (log in again), counts come back from MongoDB.
    await wait_flushed(deps)
    await deps.redis.flushall()
    token = await mp.login("o_r0")
    assert (await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, token))[0] == 409
    new = await mp.login("o_r_new")
    assert (await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, new))[0] == 201
    detail = (await mp.call("GET", url(poll), token=new))[1]
    assert [o["count"] for o in detail["options"]] == [3, 2, 2, 6]
    assert await stored_counts(deps, pid) == {"o1": 3, "o2": 2, "o3": 2, "o4": 6}


async def test_rebuild_waits_for_pending_ballots(deps: Deps) -> None:
    """Ballots still in the stream are stored before the recount, so none is missed."""
    from services.members.sessions import CurrentUser

    poll = await make_poll(deps)
    for i in range(5):
        await votes.cast(deps, CurrentUser(f"o_s{i}"), poll["_id"], ["o1"], "10.0.0.1")
    assert await ballots.pending_count(deps.redis) == 5  # no flusher in this test
    await deps.redis.delete(poll_key(poll["_id"], "counts"))
    counts = await polls.results_live(deps, poll)
    assert counts["o1"] == 5 and await ballots.pending_count(deps.redis) == 0


async def test_concurrent_casts_by_one_user_never_exceed_the_limit(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps, limit={"per": "poll", "count": 3}, anti_brush={"user_per_minute": 0})
    token = await mp.login("o_c1")
    results = await asyncio.gather(
        *(mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, token) for _ in range(20))
    )
    assert sorted(s for s, _ in results) == [201] * 3 + [409] * 17
    assert await stored_counts(deps, poll["_id"]) == {"o1": 3}


async def test_a_long_closed_poll_shows_its_stored_results(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps)
    token = await mp.login("o_old")
    assert (await mp.call("POST", url(poll, "/ballots"), {"options": ["o3"]}, token))[0] == 201
    await wait_flushed(deps)
    long_ago = {"opens_at": now() - timedelta(days=90), "closes_at": now() - timedelta(days=60)}
    await deps.db.polls.update_one({"_id": poll["_id"]}, {"$set": long_ago})
    for key in await deps.redis.keys(poll_key(poll["_id"], "*")):
        await deps.redis.delete(key)  # its Redis keys expired long ago
    status, detail = await mp.call("GET", url(poll), token=token)
    assert status == 200 and detail["state"] == "ended"
    assert [o["count"] for o in detail["options"]] == [0, 0, 1, 0]
    status, data = await mp.call("POST", url(poll, "/ballots"), {"options": ["o1"]}, token)
    assert status == 409 and data["code"] == "poll_closed"
    assert await deps.redis.ttl(poll_key(poll["_id"], "counts")) > 3600


async def test_a_flushed_redis_at_a_peak_costs_one_mongodb_read_per_poll(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.members.sessions import CurrentUser
    from services.polls import store as poll_store

    poll = await make_poll(deps, limit={"per": "poll", "count": 1}, anti_brush={"user_per_minute": 0})
    await deps.redis.flushall()
    reads = 0
    real_get = poll_store.get

    async def counting_get(db: Any, pid: str) -> Any:
        nonlocal reads
        reads += 1
        return await real_get(db, pid)

    monkeypatch.setattr(poll_store, "get", counting_get)
    results = await asyncio.gather(
        *(votes.cast(deps, CurrentUser(f"o_herd{i}"), poll["_id"], ["o1"], "ip") for i in range(50))
    )
    assert len(results) == 50 and reads == 1
    assert await stored_counts(deps, poll["_id"]) == {"o1": 50}


async def test_a_retry_with_the_same_idempotency_key_counts_once(mp: MpClient, deps: Deps) -> None:
    # The mini-program timed out waiting for the answer and sends the same ballot again.
    poll = await make_poll(deps, limit={"per": "poll", "count": 3})
    token = await mp.login("o_idem")
    key = {"Idempotency-Key": "9b1f3a7c-0d4e-4c1e-8f00-3a1b2c3d4e5f"}
    first = await mp.fetch(url(poll, "/ballots"), method="POST", body='{"options":["o1"]}',
                           headers={**key, "Authorization": f"Bearer {token}"})  # fmt: skip
    again = await mp.fetch(url(poll, "/ballots"), method="POST", body='{"options":["o1"]}',
                           headers={**key, "Authorization": f"Bearer {token}"})  # fmt: skip
    assert first.code == again.code == 201 and first.body == again.body
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    status, other = await mp.call("POST", url(poll, "/ballots"), {"options": ["o2"]}, token, key)
    assert status == 409 and other["code"] == "idempotency_key_reused"
    status, fresh = await mp.call(
        "POST", url(poll, "/ballots"), {"options": ["o2"]}, token, {"Idempotency-Key": "k-0002-abcd"}
    )
    assert status == 201 and fresh["remaining"] == 1  # a new key is a new ballot
    await wait_flushed(deps)
    assert await ballots.option_counts(deps.db, poll["_id"]) == {"o1": 1, "o2": 1}
    status, detail = await mp.call("GET", url(poll), token=token)
    assert detail["total_ballots"] == 2 and detail["my"]["used"] == 2


async def test_concurrent_retries_with_one_key_cast_one_ballot(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps, limit={"per": "poll", "count": 5})
    token = await mp.login("o_idem_race")
    key = {"Idempotency-Key": "race-key-0001"}
    answers = await asyncio.gather(
        *(mp.call("POST", url(poll, "/ballots"), {"options": ["o3"]}, token, key) for _ in range(20))
    )
    assert {status for status, _ in answers} == {201}
    assert len({data["ballot_id"] for _, data in answers}) == 1
    assert await stored_counts(deps, poll["_id"]) == {"o3": 1}


async def test_a_malformed_idempotency_key_is_a_400(mp: MpClient, deps: Deps) -> None:
    poll = await make_poll(deps)
    token = await mp.login("o_idem_bad")
    for bad in ("short", "x" * 65, "has spaces in it"):
        status, data = await mp.call(
            "POST", url(poll, "/ballots"), {"options": ["o1"]}, token, {"Idempotency-Key": bad}
        )
        assert status == 400 and data["code"] == "invalid_idempotency_key", bad
    status, detail = await mp.call("GET", url(poll), token=token)
    assert detail["total_ballots"] == 0
