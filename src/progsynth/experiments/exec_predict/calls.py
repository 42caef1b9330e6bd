"""The call inside an MBPP assert: the expression whose value the model is asked to predict.

Only the *call* is taken from an assert's text; its value always comes from running the reference
solution in the sandbox (``facts``), because an assert's expected value may be wrong, rounded or
compared loosely (``set(f(x)) == set(y)``, ``math.isclose``). Forms understood::

    assert f(x) == y            assert (f(x)) == y, "message"       assert y == f(x)
    assert set(f(x)) == set(y)  assert math.isclose(f(x), y, ...)   assert round(f(x), 2) == y
    assert f(x)                 assert not f(x)                     assert f(x) is None

The predicted expression is the operand that calls something the program defines, with order- or
precision-erasing wrappers (``set``, ``sorted``, ``round``...) taken off, so the model predicts the
function's own return value. Anything else is ``Undecomposed`` with the reason, and counted.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

#: wrappers an assert puts around the call to compare loosely; the call inside is predicted instead
WRAPPERS = frozenset({"set", "sorted", "list", "tuple", "frozenset", "round", "abs", "float", "int", "str"})
#: predicates whose first argument is the value under test (``math.isclose(f(x), y)``)
PREDICATES = frozenset({"isclose"})


@dataclass(frozen=True)
class Call:
    """The expression to evaluate (source text, as ``ast.unparse`` writes it)."""

    source: str


@dataclass(frozen=True)
class Undecomposed:
    """An assert whose tested expression could not be isolated, and why."""

    reason: str


def defined_names(*sources: str) -> frozenset[str]:
    """Top-level functions, classes and assigned names of the program (and its setup code)."""
    names: set[str] = set()
    for source in sources:
        try:
            with warnings.catch_warnings():  # MBPP's code has invalid escapes ('\\w') Python still accepts
                warnings.simplefilter("ignore", SyntaxWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(names)


def _calls_program(node: ast.AST, program: frozenset[str]) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in program
               for n in ast.walk(node))


def _callee(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


def _unwrap(node: ast.expr, program: frozenset[str]) -> ast.expr:
    """Take off wrappers whose first argument holds the program's call (``set(f(x))`` -> ``f(x)``)."""
    while isinstance(node, ast.Call) and node.args and _callee(node) in WRAPPERS | PREDICATES \
            and _callee(node) not in program and _calls_program(node.args[0], program):
        node = node.args[0]
    return node


def _tested(test: ast.expr, program: frozenset[str]) -> ast.expr | str:
    """The operand of the assert's condition that calls the program, or a reason."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.Compare):
        if len(test.ops) != 1:
            return "chained comparison"
        sides = [s for s in (test.left, test.comparators[0]) if _calls_program(s, program)]
        if len(sides) != 1:
            return "both sides call the program" if sides else "no side calls the program"
        return sides[0]
    if isinstance(test, ast.Call) and _callee(test) in PREDICATES and test.args:
        return test.args[0] if _calls_program(test.args[0], program) else "the predicate tests no program call"
    if isinstance(test, ast.BoolOp):
        return "boolean operator (and/or) in the assert"
    return test if _calls_program(test, program) else "no call to the program"


def decompose(assert_source: str, program: frozenset[str]) -> Call | Undecomposed:
    """The call an assert tests; ``program`` is what the reference (and setup) define."""
    try:
        tree = ast.parse(assert_source)
    except SyntaxError as exc:
        return Undecomposed(f"not valid Python ({exc.msg})")
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return Undecomposed("not a single assert statement")
    tested = _tested(tree.body[0].test, program)
    if isinstance(tested, str):
        return Undecomposed(tested)
    node = _unwrap(tested, program)
    if not _calls_program(node, program):
        return Undecomposed("no call to the program")
    return Call(ast.unparse(node))
