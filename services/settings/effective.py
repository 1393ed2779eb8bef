"""Effective settings of an org: resolved along its path, cached per process until a setting changes."""

from __future__ import annotations

from typing import Any

from core.deps import Deps, Slot
from services.orgs import store as orgs
from services.settings import live, store
from services.settings.resolve import OrgValues, Resolved, resolve
from storage import invalidation

CACHE = Slot[live.ResolvedCache]("settings.resolved")


def cache(deps: Deps) -> live.ResolvedCache:
    def make() -> live.ResolvedCache:
        made = live.ResolvedCache()
        invalidation.hub(deps).register(live.SPACE, made)
        return made

    return deps.get_or_make(CACHE, make)


async def path_values(deps: Deps, path: tuple[str, ...]) -> list[OrgValues]:
    found = await orgs.get_many(deps.db, path)
    docs = await store.of_orgs(deps.db, list(path))
    out = []
    for code in path:
        if code not in found:
            continue
        doc = docs.get(code) or {}
        out.append(OrgValues(code, found[code].level, dict(doc.get("values") or {}), frozenset(doc.get("locks") or ())))
    return out


async def for_path(deps: Deps, path: tuple[str, ...]) -> dict[str, Resolved]:
    """The settings that apply to the last org of `path` (province .. org)."""
    c = cache(deps)
    epoch, org = c.epoch, path[-1]
    hit = c.get(org)
    if hit is not None:
        return hit
    resolved = resolve(await path_values(deps, path))
    c.put(org, epoch, resolved)
    return resolved


async def values_for_path(deps: Deps, path: tuple[str, ...]) -> dict[str, Any]:
    return {k: r.value for k, r in (await for_path(deps, path)).items()}
