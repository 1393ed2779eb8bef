"""Editable content: keyword rules by match kind and priority, per org with the province as fallback,
sandboxed templates, and every process picking up an editor's change without a restart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from core.deps import Deps
from core.errors import BadInput, NotFound
from services.replies import edit as bot_content_edit
from services.replies.cache import ContentCache
from services.replies.compile import Globals, build_snapshot, make_env
from storage.invalidation import Invalidation
from tests.wechat_bot.conftest import SimFactory
from tools.fake_wechat import SimResult
from wechat_bot.message import Text, Transfer


def rule(rid: str, match: str, patterns: list[str], priority: int, text: str, org: str = "370000") -> dict[str, Any]:
    return {"_id": rid, "org": org, "kind": "keyword", "match": match, "patterns": patterns, "priority": priority,
            "reply": {"type": "text", "text": text}}  # fmt: skip


def answer(docs: list[dict[str, Any]], text: str, org_path: tuple[str, ...] = ("370000",)) -> str | None:
    snap = build_snapshot(docs, make_env(Globals()), 1, {"370000": "山东省总工会", "370100": "济南市总工会"})
    found = snap.keyword(org_path, text)
    if found is None:
        return None
    reply = found[0].reply.render(org_name=found[1].name)
    return reply.content if isinstance(reply, Text) else type(reply).__name__


def test_match_kinds_and_priorities() -> None:
    docs = [
        rule("exact", "exact", ["投票"], 10, "exact"),
        rule("prefix", "prefix", ["投票规则"], 20, "prefix"),
        rule("contains", "contains", ["报名", "活动"], 5, "contains"),
        rule("regex", "regex", [r"^签到\s*(\d{4})$"], 1, "regex"),
        rule("urgent", "contains", ["欠薪"], 100, "urgent"),
    ]
    assert answer(docs, "投票") == "exact"
    assert answer(docs, " 投 票 ") == "exact"  # spaces do not matter
    assert answer(docs, "投票规则是什么") == "prefix"  # higher priority than the exact one
    assert answer(docs, "我想报名这次活动") == "contains"
    assert answer(docs, "签到 2025") == "regex"
    assert answer(docs, "签到 20250") is None
    assert answer(docs, "投票时被欠薪了") == "urgent"
    assert answer(docs, "ＶＯＴＥ") is None
    assert answer([rule("en", "exact", ["vote"], 1, "en")], "ＶＯＴＥ") == "en"  # full-width, upper case
    assert answer(docs, "随便聊聊") is None


def test_equal_priority_prefers_the_more_precise_match() -> None:
    docs = [rule("c", "contains", ["投票"], 10, "contains"), rule("e", "exact", ["投票"], 10, "exact")]
    assert answer(docs, "投票") == "exact"
    assert answer(docs, "去投票") == "contains"


def test_city_rules_override_and_the_province_fills_in() -> None:
    docs = [
        rule("p-vote", "exact", ["投票"], 10, "省：{{ org_name }}"),
        rule("p-law", "exact", ["法律"], 10, "省法律"),
        rule("c-vote", "exact", ["投票"], 1, "市：{{ org_name }}", org="370100"),
    ]
    city = ("370000", "370100", "370102")
    assert answer(docs, "投票", city) == "市：济南市总工会"  # the city wins even with a lower priority
    assert answer(docs, "法律", city) == "省法律"
    assert answer(docs, "投票") == "省：山东省总工会"


def test_broken_documents_are_skipped_not_fatal() -> None:
    docs = [
        rule("bad-regex", "regex", ["(unclosed"], 50, "x"),
        rule("bad-template", "exact", ["投票"], 50, "{{ nope("),
        rule("sandbox", "exact", ["投票"], 40, "{{ ''.__class__.__mro__ }}"),
        rule("good", "exact", ["投票"], 10, "好"),
        {"_id": "weird", "org": "370000", "kind": "nonsense"},
    ]
    assert answer(docs, "投票") == "好"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (rule("x", "regex", [r"(a)\1"], 1, "x"), "不支持的写法"),
        (rule("x", "regex", ["[unclosed"], 1, "x"), "正则表达式有误"),
        (rule("x", "exact", ["投票"], 1, "{% if %}"), "语法错误"),
        (rule("x", "exact", ["投票"], 1, "{{ ''.__class__ }}"), "不能使用属性访问"),
        (rule("x", "exact", ["投票"], 1, "热线 {{ hotlin }}"), "没有变量“hotlin”"),
        (rule("x", "exact", [" "], 1, "x"), "关键词不能为空"),
        (rule("x", "exact", ["投票"], 1, ""), "回复文字不能为空"),
        ({"org": "370000", "kind": "click", "reply": {"type": "text", "text": "x"}}, "菜单 key"),
        ({"org": "", "kind": "welcome", "reply": {"type": "text", "text": "x"}}, "所属组织"),
        ({"org": "370000", "kind": "banner"}, "内容类型"),
    ],
)
def test_editors_get_a_clear_reason(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput) as err:
        bot_content_edit.validate(doc)
    assert message in err.value.message


def content_of(result: SimResult) -> str:
    assert result.reply is not None, result.text
    return str(result.reply["Content"])


async def wait_for(check: Any, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not picked up in time"
        await asyncio.sleep(0.05)


async def test_an_edit_reaches_every_process_without_restart(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("safe")
    # A second process's cache, on the same Redis and MongoDB (its own watcher, its own copy).
    other = ContentCache(deps.db, deps.redis, Globals())
    await other.reload()
    hub = Invalidation(deps.redis, poll_seconds=30)  # the other process's hub: pub/sub, not the poll
    other.listen(hub)
    watcher = asyncio.create_task(hub.watch())
    try:
        assert other.snapshot.keyword(("370000",), "工会年货节") is None
        new = rule("", "contains", ["年货节"], 30, "年货节 1 月 10 日开幕，会员凭卡八折。")
        del new["_id"]
        rule_id = await bot_content_edit.save(deps.db, deps.redis, new, editor="editor-370000")

        async def answered() -> bool:
            r = await sim.send_text(f"o_edit_{time.monotonic_ns()}", "工会年货节什么时候")
            return r.reply is not None and r.reply["Content"] == "年货节 1 月 10 日开幕，会员凭卡八折。"

        await wait_for(answered)

        async def other_sees() -> bool:
            return other.snapshot.keyword(("370000",), "工会年货节") is not None

        await wait_for(other_sees)
        await bot_content_edit.remove(deps.db, deps.redis, rule_id)

        async def gone() -> bool:
            r = await sim.send_text(f"o_edit_{time.monotonic_ns()}", "工会年货节什么时候")
            return r.reply is not None and "消息已收到" in r.reply["Content"]

        await wait_for(gone)
        with pytest.raises(NotFound):
            await bot_content_edit.remove(deps.db, deps.redis, rule_id)
    finally:
        watcher.cancel()


async def test_city_welcome_and_keyword_for_its_followers(make_sim: SimFactory, deps: Deps) -> None:
    await bot_content_edit.save(deps.db, deps.redis, {"org": "370200", "kind": "welcome", "reply": {
        "type": "text", "text": "欢迎来到{{ org_name }}！岛城职工服务请回复【青岛】。"}}, editor="qd")  # fmt: skip
    await bot_content_edit.save(deps.db, deps.redis, rule("", "exact", ["投票"], 1, "青岛投票专区", org="370200"), "qd")
    sim = make_sim("plain", "json")

    async def city_welcome() -> bool:
        r = await sim.send_event(f"o_qd_{time.monotonic_ns()}", "subscribe", EventKey="qrscene_org:370200")
        return r.reply is not None and r.reply["Content"].startswith("欢迎来到青岛市总工会！")

    await wait_for(city_welcome)
    await sim.send_event("o_qingdao", "subscribe", EventKey="qrscene_org:370200")
    assert content_of(await sim.send_text("o_qingdao", "投票")) == "青岛投票专区"
    assert "12351" in content_of(await sim.send_text("o_qingdao", "法律"))
    assert "pages/votes/index" in content_of(await sim.send_text("o_elsewhere", "投票"))


def test_transfer_and_news_replies_compile() -> None:
    docs = [
        {**rule("t", "exact", ["人工"], 1, "x"), "reply": {"type": "transfer"}},
        {**rule("n", "exact", ["新闻"], 1, "x"), "reply": {"type": "news", "articles": [
            {"title": "劳动竞赛", "description": "报名开始", "url": "https://x", "pic_url": "https://p"}]}},
    ]  # fmt: skip
    snap = build_snapshot(docs, make_env(Globals()), 1, {})
    found = snap.keyword(("370000",), "人工")
    assert found is not None and found[0].reply.render() == Transfer()
    news = snap.keyword(("370000",), "新闻")
    assert news is not None and news[0].reply.render().articles[0].title == "劳动竞赛"  # type: ignore[union-attr]
