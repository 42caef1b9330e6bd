"""Splitting a test statement into the parts the program's process evaluates and the parts the judge
evaluates, so that values are built where CPython would build them.

A test such as ``assert f({12, 13, 14, 15, 16}) == (12, 13, 14, 15, 16)`` is rewritten, once per
test and program shape, into ``assert __progsynth_remote__(0, {}, (), lambda: ...) == (12, ...)``:
the program side ``f({12, ...})`` is evaluated inside the program's process (the set literal is
built there, so its iteration order, aliasing and identity are CPython's), and only its value comes
back. What stays in the judge (see ``judge``'s docstring for why):

- every comparison, boolean operator, ``not`` and the truth test that decides an ``assert``;
- arithmetic with a value the program did not produce (``answer - 2.5``: the ``2.5`` is expected);
- calls to the predicates in ``PARENT_CALLS`` (``isinstance``, ``math.isclose``...);
- any expression with no program name at all (an expected value), and any name bound to plain
  data by an earlier test statement unless it sits where the program receives it anyway (an
  argument of a program call, an index into a program value).

A program side is the largest subtree that (a) names something of the program's, and (b) holds
expected values only where the program receives them anyway: arguments of the program's callables,
indices into its values. A builtin applied only to program sides (``tuple(f(x))``, ``len(f(x))``) is
a program side too, evaluated against a pristine copy of the builtins.
"""

from __future__ import annotations

import ast
import builtins
import functools
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

#: the judge-side helper the rewritten code calls (see ``remote.Channel.remote_eval``)
REMOTE = "__progsynth_remote__"
#: the judge-side helper that refuses to take the truth of a program object
TRUTH = "__progsynth_truth__"
#: calls that decide something: evaluated by the judge on plain data, never inside the program
PARENT_CALLS = frozenset({
    "isinstance", "issubclass", "callable", "bool", "type", "all", "any", "hasattr", "id",
    "isclose", "isnan", "isinf", "isfinite",
})
_UNSENDABLE = (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)
_PURE, _PROG, _MIXED = 0, 1, 2


class Piece(NamedTuple):
    """One program side: its source, the judge-side names it needs, and the names that must hold
    program objects at run time for it to go to the program (else it runs in the judge)."""

    source: str
    bindings: tuple[str, ...]
    guards: tuple[str, ...]


class Split(NamedTuple):
    code: Any
    pieces: tuple[Piece, ...]


def names_in(tree: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


def scan(tree: ast.AST) -> tuple[frozenset[str], bool]:
    """Every name the code binds (assignment targets, parameters, imports, definitions, handlers),
    and whether it holds a walrus, yield or await anywhere (seldom): one walk for both."""
    out: set[str] = set()
    rare = False
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            if not isinstance(n.ctx, ast.Load):
                out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, _UNSENDABLE):
            rare = True
    return frozenset(out), rare


@functools.lru_cache(maxsize=4096)
def parse(source: str) -> tuple[ast.Module, frozenset[str]] | None:
    """The test's tree and the names it uses; None when it does not parse (the judge reports it)."""
    try:
        tree = ast.parse(source, "<test>", "exec")
    except (SyntaxError, ValueError):
        return None
    return tree, names_in(tree)


@functools.lru_cache(maxsize=8192)
def split(source: str, program_names: frozenset[str], test_names: frozenset[str]) -> Split:
    """The rewritten, compiled test. ``program_names``: the names the test uses that stand for the
    program's data or objects (the program's globals and test names bound to its objects);
    ``test_names``: the names it uses that earlier tests bound (they live in the judge). Raises
    SyntaxError or ValueError for a test that does not compile."""
    parsed = parse(source)
    if parsed is None:
        return Split(compile(source, "<test>", "exec"), ())  # raises: parse() failed
    rewriter = _Rewriter(program_names, test_names)
    tree = rewriter.rewrite(ast.parse(source, "<test>", "exec"))  # a fresh tree: parsing beats deepcopy
    try:
        return Split(compile(tree, "<test>", "exec"), tuple(rewriter.pieces))
    except (SyntaxError, ValueError):  # a construct the rewrite cannot express: judged as written
        return Split(compile(source, "<test>", "exec"), ())


def _has_unsendable(node: ast.AST) -> bool:
    return any(isinstance(n, _UNSENDABLE) for n in ast.walk(node))


def _structural(node: ast.AST, assigned: frozenset[str]) -> bool:
    """A builtin (``str``, ``str.lower``) or a flag: never an expected value. A name the test binds
    itself is not one (``str = 'expected'`` in a HumanEval check shadows the builtin)."""
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, bool)
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and hasattr(builtins, node.id) and node.id not in assigned


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _combine(sides: Iterable[int]) -> int:
    found = set(sides)
    return _PURE if found <= {_PURE} else _MIXED


class _Classifier:
    """Which side of the boundary each expression belongs to (see the module docstring)."""

    def __init__(self, program: frozenset[str]) -> None:
        self.program = program
        self.guards: dict[int, tuple[str, ...]] = {}
        self.memo: dict[int, int] = {}
        self.rare = False  # whether the test holds a walrus, yield or await anywhere (seldom)
        self.assigned: frozenset[str] = frozenset()

    def sendable(self, node: ast.AST) -> bool:
        """Whether ``node`` can be evaluated on its own elsewhere (no walrus, yield or await)."""
        return not (self.rare and _has_unsendable(node))

    def side(self, node: ast.AST) -> int:
        key = id(node)
        if key not in self.memo:
            self.memo[key] = self._side(node)
        return self.memo[key]

    def _side(self, node: ast.AST) -> int:
        if isinstance(node, ast.Name):
            return _PROG if node.id in self.program else _PURE
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            return self.side(node.value)
        if isinstance(node, ast.Subscript):
            inner = self.side(node.value)
            if inner == _PROG and self.sendable(node.slice):
                return _PROG
            return _combine((inner, self.side(node.slice)))
        if isinstance(node, ast.BinOp):
            sides = (self.side(node.left), self.side(node.right))
            return _PROG if sides == (_PROG, _PROG) else _combine(sides)
        if isinstance(node, ast.UnaryOp):  # ``not`` is a truth test: the judge's
            inner = self.side(node.operand)
            return _PROG if inner == _PROG and not isinstance(node.op, ast.Not) else _combine((inner,))
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts \
                and all(self.side(e) == _PROG for e in node.elts):
            return _PROG
        if isinstance(node, ast.Starred):
            return self.side(node.value)
        return _combine(self.side(c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))

    def _call(self, node: ast.Call) -> int:
        args = [*node.args, *(k.value for k in node.keywords)]
        func = self.side(node.func)
        if func == _PROG and self.sendable(node):
            return _PROG
        name = _call_name(node.func)
        if isinstance(node.func, ast.Name) and not hasattr(builtins, node.func.id) and self.sendable(node):
            self.guards[id(node)] = (node.func.id,)  # a judge-side name: program's only at run time
            return _PROG
        if func == _PURE and args and self.sendable(node):
            sides = [self.side(a) for a in args]
            if all(s == _PROG for s in sides):  # no judge value involved: nothing to decide here
                return _PROG
            if name not in PARENT_CALLS and _PROG in sides \
                    and all(s == _PROG or _structural(a, self.assigned) for s, a in zip(sides, args, strict=True)):
                return _PROG
        return _combine([func, *(self.side(a) for a in args)])


class _Rewriter(ast.NodeTransformer):
    """Replaces each program side with a call of ``REMOTE`` and each deciding leaf of an assert with
    a call of ``TRUTH``."""

    def __init__(self, program: frozenset[str], test_names: frozenset[str]) -> None:
        self.classifier = _Classifier(program)
        self.program = program
        self.test_names = test_names
        self.assigned: frozenset[str] = frozenset()
        self.pieces: list[Piece] = []

    def rewrite(self, tree: ast.Module) -> ast.Module:
        self.assigned, self.classifier.rare = scan(tree)  # a test's own ``str = ...`` shadows the builtin
        self.classifier.assigned = self.assigned
        new = self.visit(tree)
        assert isinstance(new, ast.Module)
        return new

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        node.test = self._decide(node.test)
        if node.msg is not None:
            node.msg = self.visit(node.msg)
        return node

    def _decide(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.BoolOp):
            node.values = [self._decide(v) for v in node.values]
            return node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            node.operand = self._decide(node.operand)
            return node
        return _helper(TRUTH, [self.visit(node)], node)

    def visit(self, node: ast.AST) -> Any:
        """A bare name stays a name (the test namespace fetches it, as before): only expressions
        that compute something are worth a trip to the program."""
        if isinstance(node, ast.expr) and not isinstance(node, ast.Starred | ast.Name) \
                and type(getattr(node, "ctx", ast.Load())) is ast.Load and self.classifier.side(node) == _PROG:
            return self._remote(node)
        return super().visit(node)

    def _remote(self, node: ast.expr) -> ast.expr:
        walked = list(ast.walk(node))
        names = {n.id for n in walked if isinstance(n, ast.Name)}
        bound = {n.id for n in walked if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        bound |= {a.arg for n in walked if isinstance(n, ast.arguments)
                  for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg) if a is not None}
        bindings = tuple(n for n in sorted(names - bound) if n in self.test_names or n in self.assigned
                         or n not in self.program and not hasattr(builtins, n))
        guards: set[str] = set()
        if not names & self.program:  # only judge names: it is the program's only if they are
            guards.update(g for n in walked for g in self.classifier.guards.get(id(n), ()))
        index = len(self.pieces)
        self.pieces.append(Piece(ast.unparse(node), bindings, tuple(sorted(guards))))
        env = ast.Dict([ast.Constant(n) for n in bindings], [ast.Name(n, ast.Load()) for n in bindings])
        if not bindings:  # nothing that could fail to cross, no callee to check: always the program's
            return _helper(REMOTE, [ast.Constant(index), env, ast.Constant(None)], node)
        local = super().visit(node)  # the judge-side fallback still sends its inner program sides
        thunk = ast.Lambda(ast.arguments([], [], None, [], [], None, []), local)
        return _helper(REMOTE, [ast.Constant(index), env, thunk], node)


def _helper(name: str, args: list[ast.expr], like: ast.expr) -> ast.expr:
    """``name(*args)``, placed where ``like`` was (the new nodes only: the old keep their places)."""
    call = ast.Call(ast.Name(name, ast.Load()), args, [])
    todo: list[ast.AST] = [call]
    while todo:
        node = todo.pop()
        if getattr(node, "lineno", None) is None and not isinstance(node, ast.arguments | ast.expr_context):
            ast.copy_location(node, like)
            todo.extend(ast.iter_child_nodes(node))
    return call


def program_names(used: frozenset[str], ready_names: dict[str, Any],
                  local: Callable[[str], bool | None]) -> tuple[frozenset[str], frozenset[str]]:
    """The names of ``used`` that stand for the program's values: its globals (but not the builtins
    and stdlib modules it imported, which the judge has pristine) and test names bound to its
    objects; and the names of ``used`` that tests bound. ``local(name)``: None when no test
    statement bound the name, else whether it holds a program object."""
    program, tests = set(), set()
    for name in used:
        bound = local(name)
        if bound is not None:
            tests.add(name)
            if bound:
                program.add(name)
        elif name in ready_names:
            raw = ready_names[name]
            if not (type(raw) is list and raw and raw[0] in ("M", "G")):
                program.add(name)
    return frozenset(program), frozenset(tests)
