"""The account's editable content, compiled for answering: keyword matching and reply templates.

`build_snapshot(docs)` turns `bot_content` documents into an immutable `Snapshot` that answers
"which rule matches this text for a follower of this org" with no I/O. Content is per org; a
follower's org path is searched from the most specific org up to the province, so a city's rule
or welcome overrides the province's and everything else falls back to the province.

Editorial texts are jinja2 templates rendered in a sandbox (editors are trusted with words, not
with code), with `mp_link(path, text)` for links into the mini-program.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from services.replies import safe_text
from services.replies.safe_text import Searcher, UnsafeContent
from services.replies.types import ACK, Article, Image, News, Reply, Text, Transfer

log = logging.getLogger(__name__)

MATCH_RANK = {"exact": 0, "prefix": 1, "contains": 2, "regex": 3}
REGEX_INPUT_LIMIT = 256  # editors' regexes never see more than this much of a message
_SQUEEZE = re.compile(r"[\s\x00-\x1f\x7f\u200b-\u200f\ufeff]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize(text: str) -> str:
    """What keyword matching compares: NFKC (full-width → half-width), no spaces, case-folded."""
    return _SQUEEZE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def for_regex(text: str) -> str:
    return _CONTROL.sub("", unicodedata.normalize("NFKC", text)).strip()[:REGEX_INPUT_LIMIT]


@dataclass(frozen=True)
class Globals:
    """What every template may use besides the org name."""

    mp_appid: str = ""
    public_url: str = ""
    hotline: str = "12351"


def make_env(g: Globals) -> ImmutableSandboxedEnvironment:
    # StrictUndefined: a misspelt variable, or an attribute the sandbox refuses, fails when the
    # editor saves the text instead of silently vanishing from what workers read.
    env = ImmutableSandboxedEnvironment(
        autoescape=False, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )

    def mp_link(path: str, label: str) -> str:
        # href is the fallback for clients that cannot open a mini-program from a text message.
        return (
            f'<a href="{escape(g.public_url)}" data-miniprogram-appid="{escape(g.mp_appid)}" '
            f'data-miniprogram-path="{escape(path)}">{escape(label)}</a>'
        )

    env.globals.update(mp_link=mp_link, mp_appid=g.mp_appid, public_url=g.public_url, hotline=g.hotline)
    return env


class ContentError(ValueError):
    """A content document that cannot be used (said in Chinese: editors read it)."""


def compile_regex(source: str) -> Searcher:
    try:
        return safe_text.compile_regex(source)
    except UnsafeContent as exc:
        raise ContentError(str(exc)) from None


@dataclass(frozen=True)
class CompiledReply:
    static: Reply | None
    template: jinja2.Template | None = None
    # Rendered texts by their inputs: today's inputs (org name, globals) are few, so a template
    # renders once per org and process, not once per message.
    _rendered: dict[tuple[tuple[str, Any], ...], Reply] = field(default_factory=dict, compare=False, repr=False)

    def render(self, **values: Any) -> Reply:
        if self.template is None:
            return self.static or ACK
        key = tuple(sorted(values.items()))
        reply = self._rendered.get(key)
        if reply is None:
            text = safe_text.render_capped(self.template, values).strip()
            reply = Text(text) if text else ACK
            if len(self._rendered) < 1024:
                self._rendered[key] = reply
        return reply


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    match: str
    patterns: tuple[str, ...]
    priority: int
    reply: CompiledReply
    regex: Searcher | None = None  # regex rules: the editor's (RE2); prefix/contains: built from patterns

    @property
    def rank(self) -> tuple[int, int, str]:
        return (-self.priority, MATCH_RANK[self.match], self.id)

    def matches(self, norm: str, raw: str) -> bool:
        if self.match == "regex":
            return self.regex is not None and self.regex.search(for_regex(raw)) is not None
        if isinstance(self.regex, re.Pattern):  # prefix / contains: one C-speed scan over all patterns
            return (self.regex.match if self.match == "prefix" else self.regex.search)(norm) is not None
        return norm in self.patterns


@dataclass
class OrgContent:
    org: str
    name: str = ""
    exact: dict[str, Rule] = field(default_factory=dict)
    others: list[Rule] = field(default_factory=list)  # prefix / contains / regex, best first
    welcome: CompiledReply | None = None
    default: CompiledReply | None = None
    clicks: dict[str, CompiledReply] = field(default_factory=dict)

    def keyword(self, text: str) -> Rule | None:
        norm = normalize(text)
        best = self.exact.get(norm)
        for rule in self.others:
            if best is not None and rule.rank > best.rank:
                break
            if rule.matches(norm, text):
                return rule
        return best


@dataclass(frozen=True)
class Snapshot:
    version: int
    orgs: dict[str, OrgContent]

    def _walk(self, org_path: Iterable[str]) -> Iterable[OrgContent]:
        for code in reversed(tuple(org_path)):
            content = self.orgs.get(code)
            if content is not None:
                yield content

    def keyword(self, org_path: tuple[str, ...], text: str) -> tuple[Rule, OrgContent] | None:
        for content in self._walk(org_path):
            rule = content.keyword(text)
            if rule is not None:
                return rule, content
        return None

    def welcome(self, org_path: tuple[str, ...]) -> tuple[CompiledReply, OrgContent] | None:
        return next(((c.welcome, c) for c in self._walk(org_path) if c.welcome), None)

    def default(self, org_path: tuple[str, ...]) -> tuple[CompiledReply, OrgContent] | None:
        return next(((c.default, c) for c in self._walk(org_path) if c.default), None)

    def click(self, org_path: tuple[str, ...], key: str) -> tuple[CompiledReply, OrgContent] | None:
        return next(((c.clicks[key], c) for c in self._walk(org_path) if key in c.clicks), None)


EMPTY = Snapshot(0, {})


def checked(reply: CompiledReply, org_name: str = "") -> CompiledReply:
    """Render once now, so a template that cannot render (sandbox refusal, bad filter) is refused
    when it is saved or loaded, never in front of a worker."""
    try:
        reply.render(org_name=org_name)
    except UnsafeContent as exc:
        raise ContentError(str(exc)) from None
    except jinja2.TemplateError as exc:
        raise ContentError(f"回复模板无法生成内容：{exc}") from None
    return reply


def compile_reply(env: jinja2.Environment, spec: Any) -> CompiledReply:
    if not isinstance(spec, dict):
        raise ContentError("回复内容格式不正确")
    kind = spec.get("type", "text")
    if kind == "text":
        source = str(spec.get("text") or "").strip()
        if not source:
            raise ContentError("回复文字不能为空")
        if len(source) > safe_text.MAX_SOURCE:
            raise ContentError(f"回复文字不能超过 {safe_text.MAX_SOURCE} 个字")
        if not any(m in source for m in ("{{", "{%", "{#")):
            return CompiledReply(Text(source))
        try:
            safe_text.check_template(env, source)
            return checked(CompiledReply(None, env.from_string(source)))
        except UnsafeContent as exc:
            raise ContentError(str(exc)) from None
        except jinja2.TemplateSyntaxError as exc:
            raise ContentError(f"回复模板第 {exc.lineno} 行有语法错误：{exc.message}") from None
    if kind == "news":
        items = spec.get("articles") or []
        if not isinstance(items, list) or not items or not all(isinstance(a, dict) and a.get("title") for a in items):
            raise ContentError("图文回复至少需要一篇带标题的文章")
        a = items[0]  # passive replies carry one article
        try:
            url = safe_text.check_url(a.get("url"), "文章链接")
            pic = safe_text.check_url(a.get("pic_url"), "封面图片地址")
        except UnsafeContent as exc:
            raise ContentError(str(exc)) from None
        return CompiledReply(News((Article(str(a["title"]), str(a.get("description", "")), url, pic),)))
    if kind == "image":
        if not spec.get("media_id"):
            raise ContentError("图片回复需要素材 media_id")
        return CompiledReply(Image(str(spec["media_id"])))
    if kind == "transfer":
        return CompiledReply(Transfer(str(spec.get("kf_account") or "")))
    raise ContentError(f"不支持的回复类型：{kind}")


def compile_rule(env: jinja2.Environment, doc: dict[str, Any]) -> Rule:
    match = doc.get("match", "exact")
    if match not in MATCH_RANK:
        raise ContentError(f"不支持的匹配方式：{match}")
    raw = doc.get("patterns") or []
    if isinstance(raw, str):
        raw = [raw]
    patterns = tuple(p for p in (str(x) for x in raw) if p.strip())
    if not patterns:
        raise ContentError("关键词不能为空")
    regex: Searcher | None = None
    if match == "regex":
        regex = compile_regex("|".join(f"(?:{p})" for p in patterns))
    else:
        patterns = tuple(p for p in (normalize(p) for p in patterns) if p)
        if not patterns:
            raise ContentError("关键词不能为空")
        if match in ("prefix", "contains"):
            regex = re.compile("|".join(re.escape(p) for p in sorted(patterns, key=len, reverse=True)))
    try:
        priority = int(doc.get("priority", 0))
    except (TypeError, ValueError):
        raise ContentError("优先级必须是整数") from None
    reply = compile_reply(env, doc.get("reply"))
    return Rule(str(doc["_id"]), str(doc.get("name", "")), match, patterns, priority, reply, regex)


def build_snapshot(
    docs: Iterable[dict[str, Any]], env: jinja2.Environment, version: int, org_names: dict[str, str]
) -> Snapshot:
    """Compile every document; a broken one is logged and skipped, never takes the bot down."""
    orgs: dict[str, OrgContent] = {}
    for doc in docs:
        org = str(doc.get("org") or "")
        content = orgs.setdefault(org, OrgContent(org, org_names.get(org, "")))
        kind = doc.get("kind")
        try:
            if kind == "keyword":
                rule = compile_rule(env, doc)
                checked(rule.reply, content.name)
                if rule.match == "exact":
                    for p in rule.patterns:
                        held = content.exact.get(p)
                        if held is None or rule.rank < held.rank:
                            content.exact[p] = rule
                else:
                    content.others.append(rule)
            elif kind == "welcome":
                content.welcome = checked(compile_reply(env, doc.get("reply")), content.name)
            elif kind == "default":
                content.default = checked(compile_reply(env, doc.get("reply")), content.name)
            elif kind == "click" and doc.get("key"):
                content.clicks[str(doc["key"])] = checked(compile_reply(env, doc.get("reply")), content.name)
            else:
                raise ContentError(f"未知的内容类型：{kind}")
        except ContentError as exc:
            log.warning("bot content %s skipped: %s", doc.get("_id"), exc)
    for content in orgs.values():
        content.others.sort(key=lambda r: r.rank)
    return Snapshot(version, orgs)
