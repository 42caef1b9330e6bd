"""Find programs that hard-code the asserted outputs instead of solving the task (the paper's
overfitting check): the prompt shows the asserts, so a model can pass them by memorising them.

Three shapes are flagged, each read from the program's ``ast``, never by running it:

- ``RETURNS_EXPECTED``: ``return <literal>`` where the literal equals an assert's expected value;
- ``BRANCHES_ON_INPUT``: ``if x == <asserted input>:`` (or ``in``, or a conditional expression) whose
  branch returns a literal equal to an expected value;
- ``LOOKUP_TABLE``: a dict literal mapping asserted inputs to their expected outputs.

Only *distinctive* values count: ``True``, ``0``, ``[]``, small numbers and output labels repeated
across a task's asserts (``'Found a match!'``) are what honest solutions return too. The rules are
tuned so that none of MBPP's 974 reference solutions is flagged (``tests/test_report_hardcode.py``).
"""

from __future__ import annotations

import ast
import enum
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: calls around the function under test or its expected value that do not change what is compared
WRAPPERS = frozenset({"set", "sorted", "list", "tuple", "frozenset", "round", "abs", "float", "int", "str", "len"})
_SMALL_NUMBER = 10


class HardcodeKind(enum.Enum):
    RETURNS_EXPECTED = "returns an asserted output"
    BRANCHES_ON_INPUT = "branches on an asserted input"
    LOOKUP_TABLE = "looks the asserted inputs up in a table"


@dataclass(frozen=True)
class Finding:
    """One hard-coding site: what shape, where (1-based line of the program) and which value
    (its ``repr``, cut to 80 characters), enough to find it in the task view."""

    kind: HardcodeKind
    line: int
    value: str


@dataclass(frozen=True)
class AssertCase:
    """One assert reduced to the literal inputs of the call under test and the expected value."""

    inputs: tuple[Any, ...]
    expected: Any
    has_expected: bool


@dataclass(frozen=True)
class Oracle:
    """What a task's asserts reveal: their cases and the distinctive values worth looking for."""

    cases: tuple[AssertCase, ...]
    expected: tuple[Any, ...]
    inputs: tuple[Any, ...]
    atoms: frozenset[str]


def _parse(source: str) -> ast.Module:
    """``ast.parse`` without the warnings (invalid escapes...) that model output is full of."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


def _literal(node: ast.AST) -> tuple[bool, Any]:
    """The node's value if it is a literal (through ``set([...])``-style wrappers)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in WRAPPERS and node.args:
        return _literal(node.args[0])
    if isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Lambda):
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _call_under_test(node: ast.AST) -> ast.Call | None:
    """The innermost call that is not a wrapper: ``sorted(f(x))`` -> ``f(x)``."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name) and node.func.id in WRAPPERS and node.args:
        inner = _call_under_test(node.args[0])
        return inner if inner is not None else node
    return node


def _case(call: ast.Call, expected_node: ast.AST | None, default: Any = None) -> AssertCase:
    inputs = tuple(v for ok, v in map(_literal, call.args) if ok)
    if expected_node is None:
        return AssertCase(inputs, default, True)
    ok, value = _literal(expected_node)
    return AssertCase(inputs, value, ok)


def _assert_case(expr: ast.expr) -> AssertCase | None:
    """The case an assert's condition checks: ``f(x) == y`` either way round, ``not f(x)``,
    ``f(x)`` and ``math.isclose(f(x), y)``; None for shapes that name no call under test."""
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not) and (call := _call_under_test(expr.operand)):
        return _case(call, None, False)
    if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq | ast.Is):
        left, right = expr.left, expr.comparators[0]
        if (call := _call_under_test(left)) is not None:
            return _case(call, right)
        if (call := _call_under_test(right)) is not None:
            return _case(call, left)
        return None
    if (call := _call_under_test(expr)) is not None:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "isclose" and len(call.args) >= 2 and (inner := _call_under_test(call.args[0])) is not None:
            return _case(inner, call.args[1])
        return _case(call, None, True)
    return None


def parse_asserts(test: str) -> list[AssertCase]:
    """Every assert in a test's code, reduced to inputs and expected value: MBPP's one-line asserts
    and HumanEval's ``def check(candidate): assert candidate(...) == ...`` alike."""
    try:
        tree = _parse(test.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    return [c for n in ast.walk(tree) if isinstance(n, ast.Assert) and (c := _assert_case(n.test)) is not None]


def parse_assert(test: str) -> AssertCase | None:
    """``assert f(1, 2) == 3`` -> inputs (1, 2), expected 3; other shapes give None."""
    cases = parse_asserts(test)
    return cases[0] if cases else None


def _same(a: Any, b: Any) -> bool:
    """Equality that does not let ``True == 1`` or ``(1,) == [1]``-style coincidences through."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - a value from a program's literals may compare strangely
        return False


def _distinctive(value: Any, labels: Sequence[Any] = ()) -> bool:
    """Would an honest solution be unlikely to contain this value as a literal?"""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return abs(value) > _SMALL_NUMBER or (isinstance(value, float) and not value.is_integer())
    if isinstance(value, str):
        return len(value) >= 2 and not any(_same(value, label) for label in labels)
    if isinstance(value, list | tuple | set | frozenset | dict):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        return len(items) >= 2 or any(_distinctive(v) for v in items)
    return False


def _mentioned(value: Any, text: str) -> bool:
    """Does the task description name this value (``return 20`` when the task says so is honest)?"""
    if isinstance(value, str):
        return value in text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return re.search(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])", text) is not None
    return False


def _telltale_output(case: AssertCase, labels: Sequence[Any], inputs: Sequence[Any], text: str) -> bool:
    """Is ``case.expected`` an output only a solver that saw this assert would write down?

    Besides being distinctive, it must not echo an asserted input or the description, and a string
    must be built from the input's characters: ``'heo'`` from ``"hello"`` is computed, while
    ``'No solution'`` or ``'Acute-angled Triangle'`` is a category an honest solution returns too.
    """
    value = case.expected
    if not case.has_expected or not _distinctive(value, labels) or _mentioned(value, text):
        return False
    if any(_same(value, i) for i in inputs):
        return False
    if isinstance(value, str):
        return set(value) <= set("".join(str(i) for i in case.inputs))
    return True


def _atoms(value: Any) -> Iterator[str]:
    """Text fragments one of which a program containing ``value`` must contain (a cheap pre-filter)."""
    if isinstance(value, str):
        yield value if len(value) < 40 else value[:40]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield repr(value).lstrip("-")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _atoms(k)
            yield from _atoms(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _atoms(v)


def build_oracle(tests: Sequence[str], extra_tests: Sequence[str] = (), text: str = "") -> Oracle:
    """The distinctive values of a task's shown ``tests``; ``extra_tests`` (e.g. MBPP's challenge
    tests) only help recognise output labels, values that several asserts expect; ``text`` is the
    task description, whose values an honest solution may spell out."""
    cases = tuple(c for t in tests for c in parse_asserts(t))
    every = [c.expected for t in (*tests, *extra_tests) for c in parse_asserts(t) if c.has_expected]
    labels = [v for i, v in enumerate(every) if isinstance(v, str) and any(_same(v, w) for w in every[:i])]
    if sum(isinstance(v, str) for v in every) > len({v for v in every if isinstance(v, str)}):
        labels = [v for v in every if isinstance(v, str)]
    every_input = [v for c in cases for v in c.inputs]
    expected = tuple(c.expected for c in cases if _telltale_output(c, labels, every_input, text))
    inputs = tuple(v for c in cases for v in (*c.inputs, c.inputs) if _distinctive(v) and not _mentioned(v, text))
    atoms = frozenset(a for v in (*expected, *inputs) for a in _atoms(v) if len(a) >= 2)
    return Oracle(cases, expected, inputs, atoms)


def _returned_literal(node: ast.AST) -> tuple[bool, Any]:
    """The literal a ``return`` statement or a ``lambda`` gives back, if it is one."""
    value = node.value if isinstance(node, ast.Return) else node.body if isinstance(node, ast.Lambda) else None
    return _literal(value) if value is not None else (False, None)


def _returned_literals(node: ast.AST) -> Iterator[tuple[int, Any]]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Return | ast.Lambda) and (found := _returned_literal(sub))[0]:
            yield sub.lineno, found[1]


def _compared_literals(test: ast.AST) -> Iterator[Any]:
    """Literals a condition compares with ``==``/``is``, and the members of ``in (...)`` literals."""
    for sub in ast.walk(test):
        if not isinstance(sub, ast.Compare) or not all(isinstance(op, ast.Eq | ast.In | ast.Is) for op in sub.ops):
            continue
        ok, left = _literal(sub.left)
        if ok:
            yield left
        for op, side in zip(sub.ops, sub.comparators, strict=True):
            ok, value = _literal(side)
            if ok and isinstance(op, ast.In) and isinstance(value, list | tuple | set | frozenset):
                yield from value
            elif ok:
                yield value


def _branch_returns(node: ast.If | ast.IfExp) -> list[Any]:
    """The literals the taken branch of ``node`` returns (or evaluates to, for ``a if c else b``)."""
    if isinstance(node, ast.IfExp):
        ok, lit = _literal(node.body)
        return [lit] if ok else []
    return [lit for part in node.body for _, lit in _returned_literals(part)]


def _branch_findings(branches: Sequence[ast.If | ast.IfExp], oracle: Oracle) -> list[Finding]:
    """Branches on asserted inputs that return asserted outputs. One branch returning ``True`` is
    what an honest ``if month == "February": return True`` looks like too, so a lone branch counts
    only when it returns a telltale output; two or more asserted inputs branched on always count."""
    all_expected = [c.expected for c in oracle.cases if c.has_expected]
    found: list[Finding] = []
    inputs_hit: list[Any] = []
    telltale = False
    for node in branches:
        compared = list(_compared_literals(node.test))
        hits = [v for v in compared if any(_same(v, i) for i in oracle.inputs)]
        if not hits or 2 * len(hits) <= len(compared):
            continue  # an enumeration of cases most of which no assert names
        returns = _branch_returns(node)
        if any(_same(r, e) for r in returns for e in all_expected):
            found.append(Finding(HardcodeKind.BRANCHES_ON_INPUT, node.lineno, repr(hits[0])[:80]))
            inputs_hit += [h for h in hits if not any(_same(h, x) for x in inputs_hit)]
            telltale = telltale or any(_same(r, e) for r in returns for e in oracle.expected)
    return found if telltale or len(inputs_hit) >= 2 else []


def _table_findings(tables: Sequence[ast.Dict], oracle: Oracle) -> Iterator[Finding]:
    cases = [c for c in oracle.cases if c.has_expected and c.inputs]
    for node in tables:
        pairs = [(_literal(k), _literal(v)) for k, v in zip(node.keys, node.values, strict=True) if k is not None]
        matched = {i for i, c in enumerate(cases) for (kok, k), (vok, v) in pairs
                   if kok and vok and _same(v, c.expected) and _distinctive(k)
                   and (_same(k, c.inputs) or any(_same(k, i) for i in c.inputs))}
        if matched and len(matched) >= min(2, len(cases)):
            yield Finding(HardcodeKind.LOOKUP_TABLE, node.lineno, f"{len(matched)} asserted cases")


def detect(program: str, oracle: Oracle) -> tuple[Finding, ...]:
    """Hard-coding sites in ``program`` (empty for honest or unparsable programs). One walk over the
    tree collects the three kinds of node the rules look at (a report checks tens of thousands)."""
    if not oracle.cases or not any(a in program for a in oracle.atoms):
        return ()
    try:
        tree = _parse(program)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ()
    found: list[Finding] = []
    branches: list[ast.If | ast.IfExp] = []
    tables: list[ast.Dict] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Return | ast.Lambda):
            ok, lit = _returned_literal(node)
            if ok and any(_same(lit, e) for e in oracle.expected):
                found.append(Finding(HardcodeKind.RETURNS_EXPECTED, node.lineno, repr(lit)[:80]))
        elif isinstance(node, ast.If | ast.IfExp):
            branches.append(node)
        elif isinstance(node, ast.Dict):
            tables.append(node)
    found += _branch_findings(branches, oracle)
    found += _table_findings(tables, oracle)
    return tuple(sorted(set(found), key=lambda f: (f.line, f.kind.value)))


def detect_hardcoding(program: str, tests: Sequence[str], extra_tests: Sequence[str] = (),
                      text: str = "") -> tuple[Finding, ...]:
    """``detect`` for one program and the asserts it was shown (convenience for single calls)."""
    return detect(program, build_oracle(tests, extra_tests, text))
