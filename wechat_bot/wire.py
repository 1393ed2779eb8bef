"""WeChat's callback wire formats: a strict parser for its XML subset, JSON, and reply rendering.

Why not expat (ElementTree, xmltodict, wechatpy, WeRoBot): a worker's text may hold control
characters such as \\x1d, which XML 1.0 forbids and expat rejects, so the message would go
unanswered. WeChat's XML is a tiny subset (elements, CDATA, text, no attributes), so this
tokenizer accepts exactly that, control characters included, and refuses everything that makes
XML dangerous: DOCTYPE and entity declarations (billion laughs, external entities), processing
instructions, unknown entities. Every step is linear in the input; sizes and depth are bounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 6  # <xml><SendPicsInfo><PicList><item><PicMd5Sum> is WeChat's deepest: 5
MAX_ELEMENTS = 400
MAX_JSON_DEPTH = 6

_TOKEN = re.compile(
    r"<!\[CDATA\[(?P<cdata>.*?)\]\]>"  # CDATA section (WeChat splits "]]>" across two)
    r"|<(?P<close>/?)(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<rest>[^<>]*)>"  # start / end / empty tag
    r"|(?P<text>[^<]+)"  # character data
    r"|<!--(?:(?!--).)*-->",  # a comment
    re.S,
)
_DECL = re.compile(r"\A\ufeff?\s*<\?xml\s[^<>?]*\?>")
_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[A-Za-z]+);|&")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
# XML 1.0 forbids these in documents; WeChat itself never needs them in a reply.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# The common case, a flat <xml> of leaf fields, parsed by one C-speed regex per field; anything
# else (nesting, entities, comments, split CDATA) takes the general tokenizer below.
_FLAT_OPEN = re.compile(r"\A\ufeff?\s*(?:<\?xml\s[^<>?]*\?>\s*)?<xml>")
_FLAT_FIELD = re.compile(
    r"\s*<([A-Za-z_][A-Za-z0-9_.\-]*)>(?:<!\[CDATA\[([^\]]*(?:\](?!\]>)[^\]]*)*)\]\]>|([^<&]*))</\1>"
)
_FLAT_CLOSE = re.compile(r"\s*</xml>\s*\Z")


class WireError(ValueError):
    """The body is not a message WeChat would send (said in English, for the log)."""


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref is None:
            raise WireError("bare '&' in text")
        if ref[0] == "#":
            code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
            if not 0 < code <= 0x10FFFF:
                raise WireError("character reference out of range")
            return chr(code)
        if ref not in _PREDEFINED:
            raise WireError(f"undefined entity &{ref};")
        return _PREDEFINED[ref]

    return _ENTITY.sub(one, text)


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """`<xml>...</xml>` as a dict: leaf elements are strings, nested ones dicts, repeats lists."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise WireError("body is not UTF-8") from None
    return _parse_flat(text) or _parse_general(text)


def _parse_flat(text: str) -> dict[str, Any] | None:
    m = _FLAT_OPEN.match(text)
    if m is None:
        return None
    pos, out, field = m.end(), {}, _FLAT_FIELD.match
    while (m := field(text, pos)) is not None:
        name, cdata = m.group(1), m.group(2)
        if name in out:
            return None
        out[name] = cdata if cdata is not None else m.group(3)
        pos = m.end()
    return out if out and _FLAT_CLOSE.match(text, pos) else None


def _parse_general(text: str) -> dict[str, Any]:
    pos, end = 0, len(text)
    decl = _DECL.match(text)
    if decl:
        pos = decl.end()
    # stack of [name, children dict, text parts]
    stack: list[tuple[str, dict[str, Any], list[str]]] = []
    root: dict[str, Any] | None = None
    elements = 0
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            snippet = text[pos : pos + 12]
            if snippet.startswith(("<!DOCTYPE", "<!ENTITY", "<!doctype")):
                raise WireError("DOCTYPE/ENTITY declarations are not allowed")
            raise WireError(f"unexpected markup at {pos}: {snippet!r}")
        pos = m.end()
        name = m.group("name")
        if name is None:
            cdata = m.group("cdata")
            chunk = cdata if cdata is not None else m.group("text")
            if chunk is None:
                continue  # a comment
            if not stack:
                if cdata is None and chunk.isspace():
                    continue
                raise WireError("text outside the root element")
            stack[-1][2].append(_unescape(chunk) if cdata is None and "&" in chunk else chunk)
        elif m.group("close"):
            if not stack or stack[-1][0] != name:
                raise WireError(f"unexpected </{name}>")
            _, children, parts = stack.pop()
            value: Any = children if children else "".join(parts)
            if stack:
                _add(stack[-1][1], name, value)
            elif isinstance(value, dict):
                root = value
            else:
                raise WireError("root element has no fields")
        else:
            if root is not None or (not stack and name != "xml"):
                raise WireError("a message is one <xml> element")
            elements += 1
            if elements > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
                raise WireError("too many or too deeply nested elements")
            if m.group("rest").rstrip().endswith("/"):
                if not stack:
                    raise WireError("root element has no fields")
                _add(stack[-1][1], name, "")
            else:
                stack.append((name, {}, []))
    if stack or root is None:
        raise WireError("document ends inside an element")
    return root


def _add(children: dict[str, Any], name: str, value: Any) -> None:
    """A repeated element becomes a list (values parsed from XML are never lists otherwise)."""
    if name not in children:
        children[name] = value
    elif isinstance(children[name], list):
        children[name].append(value)
    else:
        children[name] = [children[name], value]


def parse_json(body: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise WireError("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise WireError("JSON body is not an object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise WireError("JSON nested too deeply")
    return value


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def detect(body: bytes) -> str:
    """'xml' or 'json' from the first non-blank byte (WeChat's format is a per-account setting)."""
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith(b"{"):
        return "json"
    raise WireError("body is neither XML nor JSON")


def parse(body: bytes, fmt: str) -> dict[str, Any]:
    return parse_xml(body) if fmt == "xml" else parse_json(body)


# --- rendering replies --------------------------------------------------------------------------
def clean(text: str) -> str:
    """Text safe to put in a reply: no characters XML forbids (a worker's input may carry some)."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def _cdata(text: str) -> str:
    return "<![CDATA[" + clean(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_value(key: str, value: Any) -> str:
    if isinstance(value, list):
        return f"<{key}>" + "".join(_xml_value("item", v) for v in value) + f"</{key}>"
    if isinstance(value, dict):
        return f"<{key}>" + "".join(_xml_value(k, v) for k, v in value.items()) + f"</{key}>"
    if isinstance(value, int):
        return f"<{key}>{value}</{key}>"
    return f"<{key}>{_cdata(str(value))}</{key}>"


def render_xml(fields: dict[str, Any]) -> str:
    """Lists render as repeated <item> elements, as in WeChat's <Articles>."""
    return "<xml>" + "".join(_xml_value(k, v) for k, v in fields.items()) + "</xml>"


def render_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def render(fields: dict[str, Any], fmt: str) -> str:
    return render_xml(fields) if fmt == "xml" else render_json(fields)


def render_text_xml(to: str, sender: str, create_time: int, content: str) -> str:
    """The most common reply, spelled out: same output as render_xml, a fraction of the work."""
    return (
        f"<xml><ToUserName>{_cdata(to)}</ToUserName><FromUserName>{_cdata(sender)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )


def render_encrypted_xml(encrypted: str, signature: str, timestamp: int, nonce: str) -> str:
    # Base64, hex and digits: nothing to escape.
    return (
        f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )
