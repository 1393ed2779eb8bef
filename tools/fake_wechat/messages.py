"""WeChat's callback message formats: dict <-> XML (CDATA strings) and dict <-> JSON.

Nested dicts become nested elements; a list under key K becomes repeated <K> elements
(`{"PicList": {"item": [{...}, {...}]}}` -> `<PicList><item>..</item><item>..</item></PicList>`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # noqa: S405 - parses replies of our own trusted service
from typing import Any

INT_FIELDS = {"CreateTime", "ArticleCount", "MsgId", "MsgID"}


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_value(key: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml_value(key, v) for v in value)
    if isinstance(value, dict):
        inner = "".join(_xml_value(k, v) for k, v in value.items())
    elif isinstance(value, bool):
        inner = str(int(value))
    elif isinstance(value, int | float):
        inner = str(value)
    else:
        inner = _cdata(str(value))
    return f"<{key}>{inner}</{key}>"


def to_xml(fields: dict[str, Any]) -> str:
    return "<xml>" + "".join(_xml_value(k, v) for k, v in fields.items()) + "</xml>"


def to_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def _element(el: ET.Element) -> Any:
    children = list(el)
    if not children:
        text = el.text or ""
        if el.tag in INT_FIELDS and text.strip().lstrip("-").isdigit():
            return int(text)
        return text
    if all(c.tag == "item" for c in children):
        return [_element(c) for c in children]
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for c in children:
        value = _element(c)
        if c.tag not in out:
            out[c.tag] = value
        elif c.tag in repeated:
            out[c.tag].append(value)
        else:  # second occurrence: the element repeats, so it is a list
            out[c.tag] = [out[c.tag], value]
            repeated.add(c.tag)
    return out


def parse_xml(text: str) -> dict[str, Any]:
    try:
        root = ET.fromstring(text)  # noqa: S314 - trusted input (our service's reply)
    except ET.ParseError as exc:  # a SyntaxError: callers expect ValueError for any bad reply
        raise ValueError(f"malformed XML: {exc}") from None
    if root.tag != "xml":
        raise ValueError(f"root element is <{root.tag}>, not <xml>")
    value = _element(root)
    if not isinstance(value, dict):
        raise ValueError("empty <xml> element")
    return value


def parse_json(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("JSON reply is not an object")
    return value


def parse_any(text: str) -> tuple[dict[str, Any], str]:
    stripped = text.strip()
    if stripped.startswith("<"):
        return parse_xml(stripped), "xml"
    if stripped.startswith("{"):
        return parse_json(stripped), "json"
    raise ValueError(f"neither XML nor JSON: {stripped[:60]!r}")
