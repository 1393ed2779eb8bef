"""Editors' poll service: input checks in Chinese, org scope, safe edits once ballots exist, results."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.members.sessions import CurrentUser
from services.polls import ballots_store as ballots
from services.polls import definitions as polls
from services.polls import flusher as ballot_flusher
from services.polls import voting as votes
from tests.mp.polls_helpers import make_poll


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": ""}, "请填写投票标题"),
        ({"title": "长" * 61}, "投票标题不能超过 60 个字"),
        ({"options": [{"title": "只有一个"}]}, "投票选项应有 2 到 200 个"),
        ({"options": [{"title": "甲"}, {"title": ""}]}, "请填写第 2 个选项的名称"),
        (
            {"options": [{"title": "甲"}, {"title": "乙", "image_url": "ftp://x"}]},
            "第 2 个选项的图片应为 http(s) 开头的网址",
        ),
        ({"multiple": True, "max_choices": 9}, "最多可选项数应在 1 到 4 之间"),
        ({"limit": {"per": "week", "count": 1}}, "投票次数规则"),
        ({"limit": {"per": "day", "count": 0}}, "每人投票次数应在 1 到 100 之间"),
        ({"closes_at": None}, "请设置结束时间"),
        ({"closes_at": now() - timedelta(days=1)}, "结束时间必须晚于开始时间"),
        ({"opens_at": "2025-01-01"}, "开始时间应为带时区的时间"),
        ({"colour": "red"}, "不认识的字段：colour"),
    ],
)
async def test_bad_poll_input_is_refused_with_a_chinese_reason(
    deps: Deps, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadInput) as err:
        await make_poll(deps, **change)
    assert message in err.value.message


async def test_editors_manage_their_subtree_only(deps: Deps) -> None:
    with pytest.raises(Forbidden):
        await polls.create(deps, "370200", {"title": "x", "options": [{"title": "a"}, {"title": "b"}],
                                            "closes_at": now() + timedelta(days=1), "org": "370100"})  # fmt: skip
    with pytest.raises(NotFound):
        await make_poll(deps, org="999999")
    poll = await make_poll(deps, org="370100")
    assert (await polls.get_for_editor(deps, "370100", poll["_id"]))["_id"] == poll["_id"]
    with pytest.raises(NotFound):  # another city's poll looks exactly like a missing one
        await polls.close(deps, "370200", poll["_id"])
    assert (await polls.get_for_editor(deps, "370100", poll["_id"]))["status"] != "closed"
    assert [p["_id"] for p in await polls.list_for_editor(deps, "370100")] == [poll["_id"]]
    assert await polls.list_for_editor(deps, "370200") == []


async def test_edits_after_ballots_keep_counts_consistent(deps: Deps) -> None:
    poll = await make_poll(deps)
    await votes.cast(deps, CurrentUser("o_e1"), poll["_id"], ["o1"], "ip")
    options = [{"id": o["id"], "title": o["title"] + "（改）"} for o in poll["options"]]
    with pytest.raises(BadInput) as err:
        await polls.update(deps, "370000", poll["_id"], {"options": options[:3]})
    assert "不能删除选项" in err.value.message
    with pytest.raises(BadInput) as err:
        await polls.update(deps, "370000", poll["_id"], {"limit": {"per": "day", "count": 2}})
    assert "周期" in err.value.message
    updated = await polls.update(
        deps,
        "370000",
        poll["_id"],
        {"options": [*options, {"title": "新增候选人"}], "limit": {"per": "poll", "count": 2}},
    )
    assert [o["id"] for o in updated["options"]] == ["o1", "o2", "o3", "o4", "o5"]
    assert (await votes.cast(deps, CurrentUser("o_e1"), poll["_id"], ["o5"], "ip")).remaining == 0
    result = await polls.results(deps, "370000", poll["_id"])
    assert result["live"]["o1"] == result["live"]["o5"] == 1 and result["pending_ballots"] == 2
    await ballot_flusher.drain(deps)
    result = await polls.results(deps, "370000", poll["_id"])
    assert result["stored"] == {k: v for k, v in result["live"].items() if not k.startswith("_")}
    assert result["stored_ballots"] == result["live"]["_ballots"] == 2
    assert [r["rank"] for r in result["ranking"]] == [1, 1, 3, 3, 3]


async def test_concurrent_edits_conflict_instead_of_overwriting(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    poll = await make_poll(deps)
    await polls.update(deps, "370000", poll["_id"], {"title": "第一次修改"})
    monkeypatch.setattr(polls.store, "get", lambda db, pid: asyncio.sleep(0, poll))  # read before that edit
    with pytest.raises(Conflict) as err:
        await polls.update(deps, "370000", poll["_id"], {"title": "第二次修改"})
    assert "刷新" in err.value.message


async def test_flush_is_idempotent_and_start_drains_what_was_left(deps: Deps) -> None:
    poll = await make_poll(deps, limit={"per": "day", "count": 10})
    for i in range(30):
        await votes.cast(deps, CurrentUser(f"o_f{i % 7}"), poll["_id"], ["o2"], "ip")
    entries = await deps.redis.xrange(ballots.stream_of(poll["_id"]))
    assert len(entries) == 30
    await ballots.store(deps.db, [ballots.to_doc(f) for _, f in entries[:10]])  # a crash before the trim
    await polls.start(deps)  # the next process: drains first
    assert await ballots.pending_count(deps.redis) == 0
    assert await ballots.count(deps.db, poll["_id"]) == 30
    for _, fields in entries:  # the same entries replayed once more, in the pre-partition stream an older
        await deps.redis.xadd(ballots.OLD_STREAM, fields)  # release wrote: drained, and they change nothing
    await ballot_flusher.drain(deps)
    assert await ballots.option_counts(deps.db, poll["_id"]) == {"o2": 30}
    assert await deps.redis.xlen(ballots.OLD_STREAM) == 0
