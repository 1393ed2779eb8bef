"""Helpers the console's pages and JSON share: template filters, static URLs, JSON-ready values, form errors."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from core.clock import localize
from core.errors import ServiceError

STATIC_DIR = Path(__file__).resolve().parents[2] / "static" / "console"
STATIC_PREFIX = "/static/console/"


@cache
def _version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(name: str) -> str:
    """`/static/console/console.css?v=<hash>`: browsers may cache it for good, a change changes the URL."""
    return f"{STATIC_PREFIX}{name}?v={_version(name)}"


def fmt_dt(value: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A stored datetime in Beijing time; "—" for none."""
    if isinstance(value, datetime):
        return localize(value).strftime(pattern)
    return "—" if value in (None, "") else str(value)


def fmt_input_dt(value: Any) -> str:
    """For <input type="datetime-local">: 2025-05-01T09:00 in Beijing time."""
    return localize(value).strftime("%Y-%m-%dT%H:%M") if isinstance(value, datetime) else (value or "")


def fmt_num(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—" if value is None else str(value)


def pct(part: Any, whole: Any) -> float:
    try:
        return round(100.0 * float(part) / float(whole), 1) if float(whole) else 0.0
    except (TypeError, ValueError):
        return 0.0


def install_filters(env: jinja2.Environment) -> None:
    """Idempotent: the console's filters on the shared environment (the bot's templates never use them)."""
    if "console_dt" in env.filters:
        return
    env.filters.update(console_dt=fmt_dt, input_dt=fmt_input_dt, num=fmt_num)
    env.globals.update(static_url=static_url, pct=pct)


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 in Beijing time, everything else as JSON can take it."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if k != "password_hash"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return localize(value).isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def field_errors(exc: ServiceError, fields: dict[str, str] | None = None) -> dict[str, str]:
    """Errors by form field: a definition's own map, or the error's code mapped to a field name.

    `fields` maps a service error code to the form field it belongs to; the whole message is kept
    under "_" for the banner at the top of the form.
    """
    out: dict[str, str] = {"_": exc.message}
    per_field = getattr(exc, "errors", None)
    if isinstance(per_field, dict):
        out.update({str(k): str(v) for k, v in per_field.items()})
    field = (fields or {}).get(exc.code)
    if field:
        out[field] = exc.message
    return out
