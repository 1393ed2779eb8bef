"""The resolver against an independent reference over random five-level paths, locks and overrides."""

from __future__ import annotations

import random
from typing import Any

from services.settings.registry import LEVEL_ORDER, SETTINGS, Setting
from services.settings.resolve import OrgValues, resolve_key

CASES = 10_000


def reference(setting: Setting, path: list[OrgValues]) -> tuple[Any, str | None]:
    """Top-down: the first org (from the province) that may and does lock the key freezes the value
    it sees; otherwise the nearest org (from the bottom) that may and does set it wins."""
    allowed = [n for n in path if n.level in setting.levels]
    lockers = [i for i, n in enumerate(allowed) if setting.key in n.locks]
    visible = allowed[: lockers[0] + 1] if lockers else allowed
    for node in reversed(visible):
        if setting.key in node.values:
            return node.values[setting.key], node.org
    return setting.default, None


def random_path(rng: random.Random, setting: Setting) -> list[OrgValues]:
    depth = rng.randint(1, len(LEVEL_ORDER))
    path = []
    for i in range(depth):
        values = {setting.key: f"v{i}-{rng.randint(0, 9)}"} if rng.random() < 0.5 else {}
        locks = frozenset({setting.key}) if rng.random() < 0.25 else frozenset()
        path.append(OrgValues(f"org{i}", LEVEL_ORDER[i], values, locks))
    return path


def test_resolver_matches_the_reference_on_random_trees() -> None:
    rng = random.Random(20261206)
    for case in range(CASES):
        setting = rng.choice(SETTINGS)
        path = random_path(rng, setting)
        got = resolve_key(setting, path)
        assert (got.value, got.source) == reference(setting, path), (case, setting.key, path)
        if got.locked_by is not None:  # a lock is always held by an allowed level on the path
            assert got.locked_by in {n.org for n in path if n.level in setting.levels}


def test_a_lock_keeps_the_lockers_value_and_stops_every_change_below() -> None:
    hotline = next(s for s in SETTINGS if s.key == "contact.hotline")
    path = [
        OrgValues("370000", "province", {"contact.hotline": "12351"}, frozenset({"contact.hotline"})),
        OrgValues("370200", "city", {"contact.hotline": "0532-12351"}, frozenset()),
    ]
    got = resolve_key(hotline, path)
    assert (got.value, got.source, got.locked_by) == ("12351", "370000", "370000")
    unlocked = [OrgValues("370000", "province", {"contact.hotline": "12351"}, frozenset()), path[1]]
    assert resolve_key(hotline, unlocked).value == "0532-12351"
