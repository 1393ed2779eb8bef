"""Request bodies checked against the same JSON schemas the OpenAPI document publishes.

One source for the contract and its enforcement, so they cannot drift. The subset of JSON Schema we use:
type (object, array, string, integer, number, boolean), properties, required, additionalProperties
(false), string minLength/maxLength/pattern/enum, number minimum/maximum, array items/minItems/maxItems/
uniqueItems. Every refusal names the field by its Chinese `title` and says what to fix.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from core.errors import BadInput

TYPE_NAMES = {
    "object": "对象",
    "array": "数组",
    "string": "文本",
    "integer": "整数",
    "number": "数字",
    "boolean": "true 或 false",
}


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _label(schema: dict[str, Any], path: str) -> str:
    title = schema.get("title")
    if title and path:
        return f"{title}（{path}）"
    return title or path or "请求体"


def _is_type(value: Any, typ: str) -> bool:
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _fail(message: str, path: str) -> BadInput:
    err = BadInput(message, code="invalid_field")
    err.field = path  # type: ignore[attr-defined]
    return err


def validate(value: Any, schema: dict[str, Any], schemas: dict[str, dict[str, Any]], path: str = "") -> None:
    """Raise BadInput (400, code invalid_field) naming the first field that breaks `schema`."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    label = _label(schema, path)
    typ = schema.get("type")
    if typ and not _is_type(value, typ):
        raise _fail(f"{label} 应为{TYPE_NAMES.get(typ, typ)}", path)
    if "enum" in schema and value not in schema["enum"]:
        choices = "、".join(str(v) for v in schema["enum"])
        raise _fail(f"{label} 只能是以下之一：{choices}", path)
    if isinstance(value, dict):
        _object(value, schema, schemas, path)
    elif isinstance(value, list):
        _array(value, schema, schemas, path, label)
    elif isinstance(value, str):
        _string(value, schema, path, label)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(f"{label} 不能小于 {schema['minimum']}", path)
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(f"{label} 不能大于 {schema['maximum']}", path)


def _object(value: dict[str, Any], schema: dict[str, Any], schemas: dict[str, dict[str, Any]], path: str) -> None:
    props: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value or value[name] is None:
            sub = props.get(name, {})
            raise _fail(f"缺少必填项：{_label(sub, _join(path, name))}", _join(path, name))
    if schema.get("additionalProperties") is False:
        extra = [k for k in value if k not in props]
        if extra:
            raise _fail(f"不认识的字段：{'、'.join(extra[:5])}，请删除后重试", _join(path, extra[0]))
    for name, sub in props.items():
        if name in value and not (value[name] is None and sub.get("nullable")):
            validate(value[name], sub, schemas, _join(path, name))


def _array(value: list[Any], schema: dict[str, Any], schemas: dict[str, dict[str, Any]], path: str, label: str) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise _fail(f"{label} 至少需要 {schema['minItems']} 项", path)
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise _fail(f"{label} 最多 {schema['maxItems']} 项", path)
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                raise _fail(f"{label} 不能有重复项", path)
            seen.append(item)
    items = schema.get("items")
    if items:
        for i, item in enumerate(value):
            validate(item, items, schemas, f"{path}[{i}]")


def _string(value: str, schema: dict[str, Any], path: str, label: str) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        if schema["minLength"] == 1:
            raise _fail(f"{label} 不能为空", path)
        raise _fail(f"{label} 至少 {schema['minLength']} 个字", path)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _fail(f"{label} 不能超过 {schema['maxLength']} 个字", path)
    if "pattern" in schema and not _compiled(schema["pattern"]).search(value):
        hint = schema.get("x-hint") or "格式不正确"
        raise _fail(f"{label} {hint}", path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
