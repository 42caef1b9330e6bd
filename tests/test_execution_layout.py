"""The execution package's shape: no import cycles, and a pool process that stays small.

The import graph is built from the source (every ``import`` statement, function-level and
``TYPE_CHECKING`` ones included), so a cycle is caught even where Python would tolerate it at run
time. Run this file directly to print the strongly connected components of all of progsynth.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import progsynth

SRC = Path(progsynth.__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _targets(tree: ast.AST, name: str, package: str, modules: set[str]) -> Iterator[str]:
    """The progsynth modules one module imports: ``from a.b import c`` names the module ``a.b.c``
    where that is a module, else ``a.b``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    yield sub
                elif base in modules:
                    yield base


def import_graph() -> dict[str, set[str]]:
    """Module -> the progsynth modules it imports (self-imports left out)."""
    files = {_module_name(p): p for p in SRC.joinpath("progsynth").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = set(_targets(tree, name, _package_of(name, path), set(files))) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_execution_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "progsynth.execution.host.pool" in graph  # the graph really covers the package
    ours = [c for c in cycles(graph) if any(m.startswith("progsynth.execution") for m in c)]
    assert ours == []


def test_the_pool_process_loads_no_caller_side_machinery() -> None:
    """Every module the pool process holds is copied into each worker and touched by each fork:
    the judge, threads and subprocess belong to the caller only."""
    code = (f"import sys; sys.path.insert(0, {str(SRC)!r}); import progsynth.execution.host.zygote\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    loaded = set(subprocess.run([sys.executable, "-E", "-s", "-c", code], capture_output=True, text=True,
                                check=True, cwd="/", env={}).stdout.split())
    assert "progsynth.execution.host.zygote" in loaded
    for heavy in ("threading", "subprocess", "sysconfig", "progsynth.execution.host.pool",
                  "progsynth.execution.host.connection", "progsynth.execution.judging.judge",
                  "progsynth.execution.judging.remote", "progsynth.execution.sandbox.selfcheck"):
        assert heavy not in loaded, heavy


if __name__ == "__main__":
    for component in cycles(import_graph()):
        print(" <-> ".join(component))
