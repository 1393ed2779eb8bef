"""Editors' settings: each key's effective value for the working org and where it comes from; set,
clear and lock a key for the working org (audited); the province's matrix of every city."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from core.errors import BadInput, Forbidden
from services.editors import audit
from services.editors.scope import Scope, org_names
from services.orgs import store as orgs
from services.settings import effective, live, store
from services.settings.registry import SETTINGS, Setting, spec
from services.settings.resolve import Resolved, resolve, source_label
from storage import invalidation


@dataclass(frozen=True)
class Row:
    setting: Setting
    value: Any
    source: str  # 本级设置 / 继承自… / …锁定 / 系统默认
    own: bool  # the working org set this value itself
    locked_here: bool  # the working org locks it for its subtree
    editable: bool  # this org's level may set it and no org above locked it


async def rows(deps: Deps, scope: Scope) -> list[Row]:
    org = await scope.owner(deps.db)
    path_values = await effective.path_values(deps, org.path)
    resolved = resolve(path_values)
    names = await org_names(deps.db, list(org.path))
    own = path_values[-1] if path_values and path_values[-1].org == org.code else None
    out = []
    for s in SETTINGS:
        r = resolved[s.key]
        locked_above = r.locked_by is not None and r.locked_by != org.code
        out.append(
            Row(
                s, r.value, source_label(r, org.code, names),
                own=own is not None and s.key in own.values,
                locked_here=r.locked_by == org.code,
                editable=org.level in s.levels and not locked_above,
            )
        )  # fmt: skip
    return out


async def change(deps: Deps, scope: Scope, key: Any, value: Any, locked: Any = False) -> Row:
    """Set `value` (None: clear this org's own value) and the lock for the working org."""
    scope.require_write()
    setting = spec(key)
    if not isinstance(locked, bool):
        raise BadInput("“锁定”应为是或否", code="invalid_setting")
    org = await scope.owner(deps.db)
    if org.level not in setting.levels:
        raise Forbidden(f"“{setting.label}”不能在本级设置", code="setting_level")
    checked = None if value is None else setting.check(value)
    above = resolve(await effective.path_values(deps, org.path[:-1]), [setting])[setting.key] if org.parent else None
    if above is not None and above.locked_by is not None:
        names = await org_names(deps.db, [above.locked_by])
        raise Forbidden(
            f"“{setting.label}”已被{names.get(above.locked_by, '上级工会')}锁定，不能修改", code="setting_locked"
        )
    before = await store.set_value(deps.db, org.code, setting.key, checked, locked)
    await invalidation.hub(deps).changed(live.SPACE)  # here at once, every other instance through the hub
    old = (before or {}).get("values", {}).get(setting.key)
    what = "清除" if checked is None else "设置"
    await audit.record(
        deps.db, scope.editor, "settings.change", "org_setting", f"{org.code}:{setting.key}", org.path,
        summary=f"{what}“{setting.label}”" + ("并锁定下级" if locked else ""),
        before={"value": old, "locked": setting.key in ((before or {}).get("locks") or [])},
        after={"value": checked, "locked": locked}, ip=scope.ip,
    )  # fmt: skip
    return next(r for r in await rows(deps, scope) if r.setting.key == setting.key)


@dataclass(frozen=True)
class Matrix:
    cities: list[orgs.Org]
    settings: tuple[Setting, ...]
    cells: dict[str, dict[str, Resolved]]  # city code -> key -> resolved


async def city_matrix(deps: Deps, scope: Scope) -> Matrix:
    """Every city's effective settings side by side (the province's overview)."""
    root = await orgs.get(deps.db, scope.root)
    if root is None or root.level != "province":
        raise Forbidden("只有省总工会的编辑可以查看各市设置总览", code="province_only")
    cities = await orgs.children(deps.db, root.code)
    cells = {c.code: resolve(await effective.path_values(deps, c.path)) for c in cities}
    return Matrix(cities, SETTINGS, cells)
