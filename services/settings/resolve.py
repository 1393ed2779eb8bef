"""Resolving settings along an org path: pure functions, no I/O.

Walking from the province down to the org, a value set at an org replaces what came from above
unless an org above it locked the key; a lock holds for the locking org's whole subtree (the
locking org's own value still counts: it sets the value and forbids changes below). A value set
at a level the registry does not allow for the key is ignored (editors cannot set it there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.settings.registry import SETTINGS, Setting


@dataclass(frozen=True)
class OrgValues:
    """One org's own settings, as stored."""

    org: str
    level: str
    values: dict[str, Any]
    locks: frozenset[str]


@dataclass(frozen=True)
class Resolved:
    key: str
    value: Any
    source: str | None  # the org whose value applies; None: the built-in default
    locked_by: str | None  # the org above (or at) this one that locked the key


def resolve_key(setting: Setting, path: Sequence[OrgValues]) -> Resolved:
    """`path` from the province down to the org itself."""
    value, source, locked_by = setting.default, None, None
    for node in path:
        if locked_by is not None:
            break  # locked above: nothing below may change it
        if setting.key in node.values and node.level in setting.levels:
            value, source = node.values[setting.key], node.org
        if setting.key in node.locks and node.level in setting.levels:
            locked_by = node.org
    return Resolved(setting.key, value, source, locked_by)


def resolve(path: Sequence[OrgValues], settings: Sequence[Setting] = SETTINGS) -> dict[str, Resolved]:
    return {s.key: resolve_key(s, path) for s in settings}


def source_label(r: Resolved, org: str, names: dict[str, str]) -> str:
    """What the console shows next to a value: 本级设置, 继承自…, …锁定, 默认."""
    if r.locked_by is not None and r.locked_by != org:
        return f"{names.get(r.locked_by, r.locked_by)}锁定"
    if r.source is None:
        return "系统默认"
    if r.source == org:
        return "本级设置（已锁定下级）" if r.locked_by == org else "本级设置"
    return f"继承自{names.get(r.source, r.source)}"
