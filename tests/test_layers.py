"""The layers of the package, read from its imports with ``ast`` (ARCHITECTURE.md states the rules).

- No import cycle between modules, counting imports inside functions too.
- The light side never imports torch at import time, directly or through another module: what
  ``stylecast stylize`` and ``stylecast serve`` load must install without the train extra.
- No module imports, at import time, one from a layer above its own.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stylecast"

# Layers from the bottom. A module may import, at import time, its own layer and the ones below; the
# torch side (models ... styling.encode) may also import the light base (layers 0 and 1).
LIGHT_LAYERS: list[tuple[str, ...]] = [
    ("stylecast._version", "stylecast.errors", "stylecast.atomic", "stylecast.argtypes", "stylecast.fs"),
    ("stylecast.modelfile", "stylecast.styles", "stylecast.io",
     "stylecast.runtime.progress", "stylecast.runtime.httpserve", "stylecast.runtime.postprocess",
     "stylecast.styling.painting",
     "stylecast.styling"),
    ("stylecast.runtime", "stylecast.stylizer"),
    ("stylecast.cli", "stylecast.web", "stylecast.__main__", "stylecast"),
]
TORCH_LAYERS: list[tuple[str, ...]] = [
    ("stylecast.models",),
    ("stylecast.losses", "stylecast.warp", "stylecast.data"),
    ("stylecast.train", "stylecast.styling.encode"),
]


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def _target(name: str) -> str | None:
    if name in MODULES:
        return name
    return "torch" if name.split(".")[0] == "torch" else None


@cache
def imports(module: str, at_import_time: bool) -> frozenset[str]:
    """Modules of the package (and ``torch``) that ``module`` imports; with ``at_import_time``, only the
    statements that run when it is imported (not inside functions, not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(MODULES[module].read_text())
    nodes: list[ast.AST] = []
    if at_import_time:
        stack: list[ast.AST] = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            nodes.append(node)
            if isinstance(node, ast.ClassDef | ast.Try | ast.If | ast.With):
                stack.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from pkg import mod`` imports the module ``pkg.mod``; ``from mod import name`` the module.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        found.update(t for t in map(_target, names) if t is not None and t != module)
    return frozenset(found)


def _layer(module: str) -> tuple[str, int]:
    best: tuple[str, int, int] | None = None
    for side, layers in (("light", LIGHT_LAYERS), ("torch", TORCH_LAYERS)):
        for rank, prefixes in enumerate(layers):
            for prefix in prefixes:
                if module == prefix or module.startswith(prefix + "."):
                    if best is None or len(prefix) > best[2]:
                        best = (side, rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to tests/test_layers.py and ARCHITECTURE.md"
    return best[0], best[1]


def _cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize("at_import_time", [True, False], ids=["at-import", "anywhere"])
def test_no_import_cycles(at_import_time: bool) -> None:
    graph = {module: imports(module, at_import_time) for module in MODULES}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_light_side_never_imports_torch_when_imported() -> None:
    def reaches_torch(module: str, seen: set[str]) -> list[str] | None:
        if module == "torch":
            return ["torch"]
        if module in seen:
            return None
        seen.add(module)
        for nxt in sorted(imports(module, True)):
            if (chain := reaches_torch(nxt, seen)) is not None:
                return [module, *chain]
        return None

    for module in MODULES:
        if _layer(module)[0] == "light":
            chain = reaches_torch(module, set())
            assert chain is None, f"{module} imports torch when imported: {' -> '.join(chain or [])}"


def test_imports_point_down_the_layers() -> None:
    for module in sorted(MODULES):
        side, rank = _layer(module)
        for target in imports(module, True):
            if target == "torch":
                continue
            target_side, target_rank = _layer(target)
            if side == "light":
                assert target_side == "light" and target_rank <= rank, f"{module} imports {target}, above it"
            else:
                allowed = target_side == "light" and target_rank <= 1 or target_side == "torch" and target_rank <= rank
                assert allowed, f"{module} imports {target}, above it or on the serving side"
