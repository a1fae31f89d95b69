"""The layers run one way — cli → tui → engine → kernels — with no import circles.

Read from the source with `ast` (nothing is imported), so a type-only import under
`if TYPE_CHECKING:` or one inside a function counts like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Folder -> the import name it is installed as (pyproject's package-dir), lowest layer last.
PACKAGES = {
    "cli/commands": "neuralpatch.commands",
    "cli": "neuralpatch",
    "tui": "neuralpatch.tui",
    "engine": "neuralpatch.engine",
    "kernels": "neuralpatch.kernels",
}
LAYER = {  # most specific first: package_of takes the first that matches
    "neuralpatch.commands": 0,
    "neuralpatch.tui": 1,
    "neuralpatch.engine": 2,
    "neuralpatch.kernels": 3,
    "neuralpatch": 0,
}
# What each layer may never import, beyond the layers above it.
FORBIDDEN = {
    "neuralpatch.tui": ("argparse",),
    "neuralpatch.engine": ("argparse", "textual", "rich"),
}


def modules() -> dict[str, Path]:
    """Every module of the package, by its import name."""
    found: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found.setdefault(name, path)
    return found


def imports_of(path: Path, name: str) -> set[str]:
    """Every module `path` imports anywhere in its source, relative imports resolved."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import mod`
    return found


def package_of(module: str) -> str:
    """The layer package a module belongs to (`neuralpatch.engine.trainer` → engine)."""
    for package in LAYER:
        if module == package or module.startswith(package + "."):
            return package
    raise ValueError(module)


def graph() -> dict[str, set[str]]:
    """Module → the package modules it imports."""
    known = modules()
    return {
        name: {m for m in imports_of(path, name) if m in known and m != name}
        for name, path in known.items()
    }


def test_the_source_tree_is_where_the_test_expects_it():
    known = modules()
    assert {"neuralpatch.main", "neuralpatch.tui.train_app", "neuralpatch.engine.trainer"} <= set(
        known
    )
    assert any(path.suffix == ".cl" for path in (REPO / "kernels").iterdir())


def test_no_upward_imports():
    known = modules()
    wrong = []
    for name, path in known.items():
        layer = LAYER[package_of(name)]
        for imported in imports_of(path, name):
            if imported.startswith("neuralpatch") and imported in known:
                if LAYER[package_of(imported)] < layer:
                    wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_argparse_textual_and_rich_stay_in_their_layers():
    wrong = []
    for name, path in modules().items():
        banned = FORBIDDEN.get(package_of(name), ())
        for imported in imports_of(path, name):
            if imported.split(".")[0] in banned:
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_no_import_circles():
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_checks_see_a_planted_upward_import_and_circle(tmp_path: Path):
    """The parser itself: a relative import is resolved and a type-only import counts."""
    module = tmp_path / "trainer.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import dataset\n"
        "if TYPE_CHECKING:\n"
        "    from neuralpatch.tui.train_app import TrainApp\n"
        "def f():\n"
        "    import argparse\n"
    )
    found = imports_of(module, "neuralpatch.engine.trainer")
    assert {"neuralpatch.engine.dataset", "neuralpatch.tui.train_app", "argparse"} <= found
