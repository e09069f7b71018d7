"""The declared import order of the areas (docs/ARCHITECTURE.md): a module imports only from earlier layers or
its own package. No cycles, and no imports inside functions outside the CLI (ruff's PLC0415 checks those)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
# Earlier entries may not import later ones. A more specific prefix wins over its package.
LAYERS = [
    ("yimatong.config", "yimatong.errors"),
    ("yimatong.domain",),
    ("yimatong.formats",),
    ("yimatong.profiles",),
    ("yimatong.storage",),
    ("yimatong.core",),
    ("yimatong.ledger",),
    ("yimatong.uow",),
    ("yimatong.accounts",),
    ("yimatong.projects",),
    ("yimatong.stages",),
    ("yimatong.parcels",),
    ("yimatong.results",),
    ("yimatong.joint",),
    ("yimatong.onecode",),
    ("yimatong.intake",),
    ("yimatong.supervision",),
    ("yimatong.delivery",),
    ("yimatong.ops",),
    ("yimatong.api",),
    ("yimatong.web",),
    ("yimatong.api.app", "yimatong.api.asgi"),  # the composition root: mounts the API and the pages
    ("yimatong.cli",),
]
CLIENT = "yimatong.client"  # the SDK neighbours install: it may use only itself and the pure domain


def layer_of(module: str) -> int:
    if module == "yimatong":
        return 0
    best, best_len = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    assert best >= 0, f"{module} belongs to no declared layer: add it to LAYERS and docs/ARCHITECTURE.md"
    return best


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((SRC / "yimatong").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def imports_of(path: Path, module: str) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return [(m, line) for m, line in found if m.startswith("yimatong")]


def test_every_module_imports_only_earlier_layers() -> None:
    known = {m for m, _ in modules()}
    wrong = []
    for module, path in modules():
        if module.startswith(CLIENT):
            bad = [(m, n) for m, n in imports_of(path, module) if not m.startswith((CLIENT, "yimatong.domain"))]
            wrong += [f"{module}:{n} imports {m} (the SDK may use only yimatong.client and yimatong.domain)"
                      for m, n in bad]
            continue
        mine = layer_of(module)
        for target, line in imports_of(path, module):
            if target not in known:
                continue  # `from package import name` also lists package.name, which may be a variable
            if target.startswith(CLIENT):
                continue
            if layer_of(target) > mine:
                wrong.append(f"{module}:{line} imports {target} (a later layer)")
    assert wrong == [], "\n".join(wrong)


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    known = {m for m, _ in modules()}
    for module, path in modules():
        graph[module] = {t for t, _ in imports_of(path, module) if t in known and t != module}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
