"""The package by layer: each layer imports only the layers below it, no module imports itself
in a loop or a private name of another, no module outgrows one concept, and the facade names
each public name once, every one of them used by a chapter."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import helpers as H

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "backpropvis"
LAYERS = ("core", "methods", "studies", "claims", "book")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """``(module imported, names taken)`` for every import of another module of the package."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            if target in known:
                found.append((target, names))
            found += [(f"{target}.{n}", []) for n in names if f"{target}.{n}" in known]
    return [(t, n) for t, n in found if t != name]


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else len(LAYERS)


def test_each_layer_imports_only_the_layers_below_it():
    known = modules()
    upward = [
        (name, target)
        for name, path in known.items()
        for target, _ in imports(name, path, known)
        if layer(target) > layer(name)
    ]
    assert not upward


def test_no_import_cycle_and_no_private_name_across_modules():
    known = modules()
    graph = defaultdict(set)
    private = []
    for name, path in known.items():
        for target, names in imports(name, path, known):
            if known[target].name != "__init__.py":
                graph[name].add(target)
            private += [(name, target, n) for n in names if re.match(r"_[a-zA-Z]", n)]
    assert not private

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert not [name for name in known if name in reach(name)]


def test_modules_keep_to_one_concept():
    long = {
        p.name: n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long


def test_the_facade_names_each_export_once_and_every_one_is_used_by_a_chapter():
    assert len(H.__all__) == len(set(H.__all__))
    text = "\n".join(p.read_text() for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    text += (ROOT / "README.md").read_text()
    unused = [n for n in H.__all__ if not re.search(rf"\bH\.{n}\b", text)]
    assert not unused
    assert all(hasattr(H, n) for n in H.__all__)
    facade = (ROOT / "src" / "helpers.py").read_text()
    assert not re.search(r"^\s*def |^\s*class ", facade, re.M), "the facade holds no logic"
