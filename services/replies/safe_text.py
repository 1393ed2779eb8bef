"""Editors' reply content is data, not code: the small template language, linear-time regexes, safe links.

Every process renders every reply template (at save, at start-up, on every content change), so one
editor's text must never be able to freeze them all. Templates are therefore limited to a language
that cannot loop or grow: literal text, the variables below, `mp_link("path", "label")` and
`{% if variable %}…{% else %}…{% endif %}`. That is checked on the parsed template (jinja2's AST)
when a text is saved and again when stored texts are loaded, so nothing written before the rule
runs either. Rendering is still capped in time and size (`render_capped`) as a second fence.

Regex rules run on RE2 (google-re2): matching time is linear in the message whatever the pattern,
so `(a|a)*$` cannot backtrack. Patterns RE2 cannot run (back-references, look-around) are refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any, Protocol

import jinja2
import re2  # type: ignore[import-untyped]
from jinja2 import nodes

VARIABLES = {
    "org_name": "组织名称",
    "hotline": "服务热线",
    "mp_appid": "小程序 AppID",
    "public_url": "网站地址",
}
HELPERS = {"mp_link": 2}  # name -> number of arguments
MAX_SOURCE = 2000  # characters of template text
MAX_OUTPUT = 2048  # characters of a rendered reply (WeChat's text limit is 2,048 bytes)
RENDER_SECONDS = 0.5  # generous: only a fence behind the AST check, never hit by a valid text on a busy host
MAX_REGEX = 800
MAX_URL = 1024

# What each refused node is called in the editor's message.
_REFUSED = {
    nodes.For: "循环（for）",
    nodes.Macro: "宏（macro）",
    nodes.CallBlock: "call 块",
    nodes.FilterBlock: "filter 块",
    nodes.Filter: "过滤器（|）",
    nodes.Test: "测试（is）",
    nodes.Getattr: "属性访问（.）",
    nodes.Getitem: "下标访问（[]）",
    nodes.Slice: "切片",
    nodes.BinExpr: "算术运算（+ - * / % **）",
    nodes.UnaryExpr: "正负号运算",
    nodes.Concat: "字符串拼接（~）",
    nodes.Compare: "比较运算",
    nodes.CondExpr: "条件表达式（if else 表达式）",
    nodes.Assign: "变量赋值（set）",
    nodes.AssignBlock: "变量赋值（set）",
    nodes.With: "with 块",
    nodes.Include: "引入其他模板（include）",
    nodes.Import: "导入（import）",
    nodes.FromImport: "导入（import）",
    nodes.Extends: "模板继承（extends）",
    nodes.Block: "block 块",
    nodes.List: "列表",
    nodes.Tuple: "元组",
    nodes.Dict: "字典",
    nodes.ExprStmt: "do 语句",
}


class UnsafeContent(ValueError):
    """Content outside what editors may write; the message (Chinese) says what is not allowed."""


class Searcher(Protocol):
    def search(self, text: str, /) -> object | None: ...


def _what(node: nodes.Node) -> str:
    return next((_REFUSED[t] for t in type(node).__mro__ if t in _REFUSED), type(node).__name__)


def _allowed_names() -> str:
    return "、".join([*VARIABLES, *(f"{h}(…)" for h in HELPERS)])


def _expr(node: nodes.Node) -> None:
    if isinstance(node, nodes.Const):
        if not isinstance(node.value, str | int | bool):
            raise UnsafeContent("回复模板中只能使用文字常量")
        return
    if isinstance(node, nodes.Name):
        if node.name not in VARIABLES:
            raise UnsafeContent(f"回复模板中没有变量“{node.name}”，可用的只有：{_allowed_names()}")
        return
    if isinstance(node, nodes.Call):
        name = node.node.name if isinstance(node.node, nodes.Name) else ""
        if name not in HELPERS:
            raise UnsafeContent(f"回复模板只能调用 {', '.join(HELPERS)}，不能调用其他函数")
        if node.kwargs or node.dyn_args or node.dyn_kwargs or len(node.args) != HELPERS[name]:
            raise UnsafeContent(f'{name} 的写法应为 {name}("小程序页面路径", "链接文字")')
        for arg in node.args:
            if not isinstance(arg, nodes.Const | nodes.Name):
                raise UnsafeContent(f"{name} 的参数只能是文字或变量")
            _expr(arg)
        return
    if isinstance(node, nodes.Not):
        _expr(node.node)
        return
    if isinstance(node, nodes.And | nodes.Or):
        _expr(node.left)
        _expr(node.right)
        return
    raise UnsafeContent(f"回复模板不能使用{_what(node)}")


def _statements(body: Iterable[nodes.Node]) -> None:
    for node in body:
        if isinstance(node, nodes.Output):
            for part in node.nodes:
                if not isinstance(part, nodes.TemplateData):
                    _expr(part)
        elif isinstance(node, nodes.If):
            _expr(node.test)
            _statements(node.body)
            for branch in node.elif_:
                _expr(branch.test)
                _statements(branch.body)
            _statements(node.else_)
        else:
            raise UnsafeContent(f"回复模板不能使用{_what(node)}")


def check_template(env: jinja2.Environment, source: str) -> None:
    """Refuse (UnsafeContent) any construct outside the reply language; jinja2's syntax errors pass through."""
    if len(source) > MAX_SOURCE:
        raise UnsafeContent(f"回复文字不能超过 {MAX_SOURCE} 个字")
    _statements(env.parse(source).body)


def render_capped(template: jinja2.Template, values: dict[str, Any]) -> str:
    """Render chunk by chunk, stopping at the size cap or the time cap (the second fence behind the AST check)."""
    out: list[str] = []
    size = 0
    deadline = time.monotonic() + RENDER_SECONDS
    for chunk in template.generate(**values):
        out.append(chunk)
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise UnsafeContent(f"回复内容超过 {MAX_OUTPUT} 个字")
        if time.monotonic() > deadline:
            raise UnsafeContent("回复模板生成内容太慢")
    return "".join(out)


def _re2_options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is the editor's message, not a line on stderr
    options.max_mem = 8 << 20
    return options


def compile_regex(source: str) -> Searcher:
    """An editor's regex on RE2 (linear time), or UnsafeContent saying why not."""
    if len(source) > MAX_REGEX:
        raise UnsafeContent(f"正则表达式不能超过 {MAX_REGEX} 个字符")
    try:
        pattern: Searcher = re2.compile(source, _re2_options())
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise UnsafeContent(f"正则表达式有误或使用了不支持的写法（如反向引用、前后查找）：{detail}") from None
    return pattern


_URL = re.compile(r"^https?://[^\s/?#@]+[^\s]*$", re.IGNORECASE)


def check_url(value: Any, what: str = "链接") -> str:
    """An http(s) URL (or empty): `javascript:`, `data:` and friends are refused."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise UnsafeContent(f"{what}应为文字")
    url = value.strip()
    if len(url) > MAX_URL or not _URL.match(url) or any(ord(c) < 32 for c in url):
        raise UnsafeContent(f"{what}只能是 http:// 或 https:// 开头的网址")
    return url
