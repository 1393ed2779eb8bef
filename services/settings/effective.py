"""Effective settings of an org: resolved along its path, cached per (org, version)."""

from __future__ import annotations

from typing import Any

from core.deps import Deps, Slot
from services.orgs import store as orgs
from services.settings import live, store
from services.settings.resolve import OrgValues, Resolved, resolve

CACHE = Slot[live.ResolvedCache]("settings.resolved")


def cache(deps: Deps) -> live.ResolvedCache:
    return deps.get_or_make(CACHE, live.ResolvedCache)


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
    ver = await c.current_version(deps.redis)
    org = path[-1]
    hit = c.get(org, ver)
    if hit is not None:
        return hit
    resolved = resolve(await path_values(deps, path))
    c.put(org, ver, resolved)
    return resolved


async def values_for_path(deps: Deps, path: tuple[str, ...]) -> dict[str, Any]:
    return {k: r.value for k, r in (await for_path(deps, path)).items()}
