"""The layout's rules, checked on the source: no import circles, no upward imports, and Redis or
MongoDB touched only by a capability's store/live modules (and core/, which owns the clients).

Layers, lowest first: core → storage (shared plumbing) → services (one package per capability)
→ seed → surfaces (handlers, miniprogram_api, wechat_bot, scheduler) → app. tools/ holds
operators' commands over services and the fake WeChat platform (which imports no product code).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = (
    "app",
    "core",
    "storage",
    "services",
    "seed",
    "handlers",
    "miniprogram_api",
    "wechat_bot",
    "scheduler",
    "tools",
)
RANK = {"core": 0, "storage": 1, "services": 2, "seed": 3, "handlers": 4, "miniprogram_api": 4, "wechat_bot": 4,
        "scheduler": 4, "app": 5, "tools": 6}  # fmt: skip
# A capability's data modules: the only code that knows its Redis keys and MongoDB collections.
DATA_MODULE = re.compile(r"(^|_)(store|live|lua)$|^(store|live)_")
RAW_CALL = re.compile(r"^(self\.)?(deps\.|self\.deps\.)?(redis|redis_pipe|pipe|db|mongo)\.\w+")


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {"app": ROOT / "app.py"}
    for top in PRODUCT[1:]:
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def _top(module: str) -> str:
    return module.split(".")[0]


def _rank(module: str) -> int:
    """The fake WeChat platform stands beside everything (the demo starts it): it imports no product code."""
    return -1 if module.startswith("tools.fake_wechat") else RANK[_top(module)]


def test_no_import_circles() -> None:
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert cycles == [], f"import circles: {cycles}"


def test_no_upward_imports() -> None:
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            if _rank(target) > _rank(module):
                wrong.append(f"{module} -> {target}")
    assert wrong == [], "upward imports:\n" + "\n".join(sorted(wrong))


def test_capabilities_import_each_other_through_a_dag() -> None:
    """Capability packages (services.<x>) depend on each other in one direction only."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        parts = module.split(".")
        if parts[0] != "services" or len(parts) < 3:
            continue
        for target in targets:
            tparts = target.split(".")
            if (
                tparts[0] == "services"
                and len(tparts) >= 2
                and tparts[1] != parts[1]
                and (len(tparts) >= 3 or target != "services")
            ):
                edges[parts[1]].add(tparts[1])
    both = sorted(f"{a} <-> {b}" for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))
    assert both == [], f"capabilities importing each other: {both}"


def test_redis_and_mongodb_only_in_data_modules() -> None:
    """Use-case modules call their store/live modules; only those (and core/) talk to the databases."""
    offenders = []
    for module, path in modules().items():
        if not module.startswith("services.") or DATA_MODULE.search(module.rsplit(".", 1)[-1]):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                dotted = ast.unparse(node.func)
                if RAW_CALL.match(dotted):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {dotted}")
    assert offenders == [], "raw Redis/MongoDB calls outside store/live modules:\n" + "\n".join(offenders)
