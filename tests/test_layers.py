"""The layers of README §Architecture, enforced over the source's imports.

protocol imports nothing of ours; infra imports protocol only; hub and
workers import infra and protocol, never each other; clients import protocol
only; deploy may import everything. Imports inside functions count too, and
no two modules may import each other, directly or through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "infra": {"protocol"},
    "hub": {"infra", "protocol"},
    "workers": {"infra", "protocol"},
    "clients": {"protocol"},
    "deploy": {"infra", "hub", "workers", "clients", "protocol"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("bilten", *parts))


def imports_of(path: Path) -> set[str]:
    """The bilten modules `path` imports, resolved to module names where possible."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bilten."))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("bilten.")
            and node.level == 0
        ):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for layer in ALLOWED for p in (ROOT / layer).rglob("*.py")}
    return {
        name: {m for m in imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_every_package_is_a_known_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    allowed = ALLOWED[layer] | {layer}
    broken = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if mod.split(".")[1] == layer
        for dep in deps
        if dep.split(".")[1] not in allowed
    )
    assert broken == []


def test_no_import_cycles() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []
