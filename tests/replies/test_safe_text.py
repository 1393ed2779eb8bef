"""Editors' replies are data: no template can loop or grow, no regex can backtrack, no link can run script."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.errors import BadInput
from seed.bot_content import content_docs
from services.replies import edit as bot_content_edit
from services.replies import safe_text
from services.replies.compile import Globals, build_snapshot, make_env


def keyword(text: str, match: str = "exact", patterns: list[str] | None = None) -> dict[str, Any]:
    return {"org": "370200", "kind": "keyword", "match": match, "patterns": patterns or ["投票"],
            "reply": {"type": "text", "text": text}}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "循环"),
        ("{{ range(100000) }}", "只能调用"),
        ("{{ 'x' * 20000000 }}", "算术运算"),
        ("{{ org_name * 99999 }}", "算术运算"),
        ("{{ hotline | center(100000000) }}", "过滤器"),
        ("{{ org_name ~ org_name }}", "字符串拼接"),
        ("{% set a = 'x' %}{{ a }}", "变量赋值"),
        ("{{ ''.__class__.__mro__ }}", "属性访问"),
        ("{{ lipsum(100000) }}", "只能调用"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "宏"),
        ("{{ mp_link('p' * 9, 'x') }}", "参数只能是文字或变量"),
        ("{{ cycler }}", "没有变量“cycler”"),
        ("{% include 'x' %}", "引入其他模板"),
    ],
)
def test_a_template_outside_the_reply_language_is_refused_naming_what(text: str, refused: str) -> None:
    started = time.monotonic()
    with pytest.raises(BadInput) as err:
        bot_content_edit.validate(keyword(text))
    assert refused in err.value.message
    assert time.monotonic() - started < 1.0  # refused from the parsed text, never by running it


def test_the_reply_language_keeps_variables_links_and_conditions() -> None:
    text = "{% if org_name %}{{ org_name }}{% else %}工会{% endif %}："
    text += '{{ mp_link("pages/votes/index", "投票") }} {{ hotline }}'
    clean = bot_content_edit.validate(keyword(text))
    snap = build_snapshot([{**clean}], make_env(Globals(mp_appid="wxa")), 1, {"370200": "青岛市总工会"})
    found = snap.keyword(("370000", "370200"), "投票")
    assert found is not None
    reply = found[0].reply.render(org_name=found[1].name)
    assert "青岛市总工会" in reply.content and "pages/votes/index" in reply.content and "12351" in reply.content  # type: ignore[attr-defined]


def test_every_seed_template_passes_the_check() -> None:
    for doc in content_docs():
        bot_content_edit.validate(doc)


def test_a_stored_bomb_is_skipped_when_loading_not_rendered() -> None:
    """Texts saved before the rule existed: refused at load, so start-up and reloads never run them."""
    bomb = keyword("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
    started = time.monotonic()
    snap = build_snapshot([{**bomb, "_id": "old"}], make_env(Globals()), 1, {})
    assert time.monotonic() - started < 1.0
    assert snap.keyword(("370200",), "投票") is None


def test_rendering_is_capped_in_size() -> None:
    env = make_env(Globals())
    template = env.from_string("{{ org_name }}")
    assert safe_text.render_capped(template, {"org_name": "济南"}) == "济南"
    with pytest.raises(safe_text.UnsafeContent, match="超过"):
        safe_text.render_capped(template, {"org_name": "x" * (safe_text.MAX_OUTPUT + 1)})


@pytest.mark.parametrize("pattern", ["(a|a)*$", ".*.*.*.*.*.*.*.*.*.*=x", "(a+)+$", "(x+x+)+y", "(\\w*)*$"])
def test_hostile_regexes_match_in_linear_time(pattern: str) -> None:
    clean = bot_content_edit.validate(keyword("命中", "regex", [pattern]))
    snap = build_snapshot([{**clean}], make_env(Globals()), 1, {})
    started = time.monotonic()
    for message in ("a" * 24 + "!", "a" * 25, "x" * 25, "=" * 24 + "y"):
        snap.keyword(("370200",), message)
    assert time.monotonic() - started < 0.5  # Python's backtracking engine took 3.5-5.2 s for one message


@pytest.mark.parametrize(
    ("pattern", "reason"), [("(a)\\1", "不支持的写法"), ("(?=a)", "不支持的写法"), ("a" * 801, "不能超过")]
)
def test_regexes_re2_cannot_run_or_too_long_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        bot_content_edit.validate(keyword("x", "regex", [pattern[:200]] * (1 if len(pattern) <= 200 else 5)))
    assert reason in err.value.message


def test_the_seed_regex_still_matches_case_insensitively() -> None:
    clean = bot_content_edit.validate(keyword("热线", "regex", ["(热线|电话)(是|号码|多少)?", "^hotline$"]))
    snap = build_snapshot([{**clean}], make_env(Globals()), 1, {})
    assert snap.keyword(("370200",), "热线是多少") is not None
    assert snap.keyword(("370200",), "HOTLINE") is not None
    assert snap.keyword(("370200",), "你好") is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,x",
        "//evil.example",
        "ftp://x",
    ],
)
def test_article_links_are_http_or_https_only(url: str) -> None:
    news = {"org": "370200", "kind": "welcome", "reply": {"type": "news", "articles": [{"title": "t", "url": url}]}}
    with pytest.raises(BadInput, match="http"):
        bot_content_edit.validate(news)
    with pytest.raises(BadInput, match="http"):
        bot_content_edit.validate({**news, "reply": {"type": "news", "articles": [{"title": "t", "pic_url": url}]}})
    ok = {
        "type": "news",
        "articles": [{"title": "t", "url": "https://www.sdgh.org.cn/a?b=1", "pic_url": "http://x.cn/p.jpg"}],
    }
    assert bot_content_edit.validate({**news, "reply": ok})["reply"]["articles"][0]["url"].startswith("https://")


@pytest.mark.parametrize(
    "doc",
    [
        keyword("x", "regex", [{"$ne": 1}]),  # type: ignore[list-item]
        {**keyword("x"), "patterns": {"a": 1}},
        {**keyword("x"), "priority": {"$gt": 0}},
        {**keyword("x"), "name": ["x"]},
        {**keyword("x"), "enabled": "yes"},
        {**keyword("x"), "reply": {"type": "text", "text": {"$gt": ""}}},
        {"org": "370200", "kind": "click", "key": {"a": 1}, "reply": {"type": "text", "text": "x"}},
        {"org": "370200", "kind": "welcome", "reply": {"type": "news", "articles": [{"title": ["t"]}]}},
    ],
)
def test_objects_where_text_belongs_are_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(BadInput):
        bot_content_edit.validate(doc)
