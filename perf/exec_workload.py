"""The workload ``exec_throughput`` races harnesses on: MBPP test-split references (should pass),
three AST mutants of each (should fail) and, for every tenth task, a version whose function never
returns (should time out). Kept apart so the race itself stays readable."""

from __future__ import annotations

import ast
import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.sources import data_config_from_env


class Kind(enum.Enum):
    REFERENCE = "reference"
    MUTANT = "mutant"
    LOOP = "loop"


@dataclass(frozen=True)
class Program:
    key: str
    kind: Kind
    task_id: str
    code: str
    setup: str
    tests: tuple[str, ...]


_SWAPS: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
                            ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
                            ast.And: ast.Or, ast.Or: ast.And, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}


class _Mutator(ast.NodeTransformer):
    """Applies one mutation at site number ``target`` (operators swapped, constants changed, a
    return value replaced by None or negated, an if condition negated, a keyword argument dropped);
    ``sites`` counts the candidates."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.sites = 0

    def _hit(self) -> bool:
        self.sites += 1
        return self.sites - 1 == self.target

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) in _SWAPS and self._hit():
            node.op = _SWAPS[type(node.op)]()
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if type(node.ops[0]) in _SWAPS and self._hit():
            node.ops[0] = _SWAPS[type(node.ops[0])]()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        if self._hit():
            node.op = _SWAPS[type(node.op)]()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if type(value) in (int, bool, str) and self._hit():
            if isinstance(value, bool):
                return ast.Constant(not value)
            if isinstance(value, int):
                return ast.Constant(value + 1)
            if isinstance(value, str):
                return ast.Constant(value + "x")
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        if node.value is not None:
            if self._hit():
                return ast.Return(ast.Constant(None))
            if self._hit():
                return ast.Return(ast.UnaryOp(ast.Not(), node.value))
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if node.keywords and self._hit():
            node.keywords = node.keywords[:-1]
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        if self._hit():
            node.test = ast.UnaryOp(ast.Not(), node.test)
        return node


def mutants(code: str, seed: int, count: int = 3) -> list[str]:
    """``count`` distinct single-site mutants of ``code``, chosen reproducibly."""
    probe = _Mutator(-1)
    probe.visit(ast.parse(code))
    sites = list(range(probe.sites))
    random.Random(seed).shuffle(sites)
    out: list[str] = []
    for site in sites:
        text = ast.unparse(_Mutator(site).visit(ast.parse(code)))
        if text not in out and text != ast.unparse(ast.parse(code)):
            out.append(text)
        if len(out) == count:
            break
    return out


def entry_point(tests: Sequence[str]) -> str | None:
    """The function the asserts call (the first name called in the first assert)."""
    for node in ast.walk(ast.parse(tests[0])):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id
    return None


def build_workload(data_dir: Path | None, tasks: int | None) -> list[Program]:
    problems = get_benchmark("mbpp").load("test", data_config_from_env(data_dir))
    programs: list[Program] = []
    for n, p in enumerate(problems[:tasks] if tasks else problems):
        base = Program(f"{p.task_id}:ref", Kind.REFERENCE, p.task_id, p.reference, p.setup, p.tests)
        programs.append(base)
        for i, text in enumerate(mutants(p.reference, seed=n)):
            programs.append(replace(base, key=f"{p.task_id}:mut{i + 1}", kind=Kind.MUTANT, code=text))
        name = entry_point(p.tests)
        if n % 10 == 0 and name:
            loop = f"{p.reference}\n\ndef {name}(*args, **kwargs):\n    while True:\n        pass\n"
            programs.append(replace(base, key=f"{p.task_id}:loop", kind=Kind.LOOP, code=loop))
    return programs


