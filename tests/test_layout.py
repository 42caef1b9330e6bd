"""The whole tree's shape: no import cycles anywhere, modules of a readable size, and no run-time
capability probing in the stages that use backends, executors and benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

from test_execution_layout import SRC, cycles, import_graph

PACKAGE = SRC / "progsynth"


def test_no_import_cycles_anywhere() -> None:
    graph = import_graph()
    assert {"progsynth.run.pipeline", "progsynth.cli.main", "progsynth.store.results"} <= set(graph)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_modules_stay_readable() -> None:
    long = {str(p.relative_to(SRC)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def _probes(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("getattr", "hasattr")
               for n in ast.walk(tree))


def test_stages_never_probe_capabilities_with_getattr() -> None:
    """Backends, executors and benchmarks declare what they offer; the stages that use them call it."""
    users = [p for folder in ("run", "store", "report", "cli", "experiments") for p in (PACKAGE / folder).rglob("*.py")]
    assert len(users) > 10
    assert [str(p.relative_to(SRC)) for p in users if _probes(p)] == []
