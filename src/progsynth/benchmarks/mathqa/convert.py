"""MathQA records -> MathQA-Python problems: number extraction, answer parsing, the DSL, Python.

The rules reproduce the paper's dataset (Austin et al., 2021, built with the MathQA-Python
generator in google/trax): numbers ``n0, n1...`` are every number in the problem text in order;
the gold answer is the first number of the correct option (``x / y`` read as a fraction); the
``linear_formula`` is executed with the operation table of ``mathqa.ops``; a problem is kept only
if gold and result are non-zero, agree within ``rel_tol`` (``math.isclose``), and the emitted
straight-line Python program agrees as well. Every dropped problem gets a ``DropReason``, which is
the error taxonomy reported by ``mathqa.stats``.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from progsynth.benchmarks.mathqa.ops import OPERATIONS, Operation, constant_value
from progsynth.errors import UsageError

#: A number in MathQA's tokenised text: "4,000", "2.5", ".5", "5." (an attached sign or exponent
#: never occurs in the released files but is kept, as the paper's extraction accepted them).
_NUMBER = r"[-+]?\.?\d+(?:,\d{3})*\.?\d*(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_FRACTION_TAIL_RE = re.compile(r"\s*/\s*(" + _NUMBER + ")")
#: an option label "c )", at the start or after a comma; some files write the options as a
#: Python list literal ("['a ) 4', 'b ) 4 π', ...]"), hence the optional bracket and quote
_OPTION_LABEL_RE = re.compile(r"(?:^|,)\s*\[?\s*['\"]?\s*([a-e])\s*\)")
_OPTION_JUNK = " \t'\"[],"
_STEP_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)")
_REF_RE = re.compile(r"([n#])(\d+)")


class DropReason(enum.Enum):
    """Why a MathQA record is not a MathQA-Python problem (first failing check wins)."""

    NO_GOLD = "no_numeric_gold"  # the correct option holds no number ("none of these")
    BAD_FORMULA = "bad_formula"  # a step is not ``op(arg, ...)`` or an argument is malformed
    UNKNOWN_OPERATION = "unknown_operation"  # not a MathQA operation
    UNSUPPORTED_OPERATION = "unsupported_operation"  # a MathQA operation the paper's conversion lacked
    WRONG_ARITY = "wrong_arity"
    UNKNOWN_CONSTANT = "unknown_constant"
    BAD_REFERENCE = "bad_reference"  # nK beyond the numbers in the text, or #K not computed yet
    MATH_ERROR = "math_error"  # the DSL raised (domain error, overflow, division by zero)
    NOT_REAL = "not_real"  # a complex result (negative base, fractional power)
    ZERO_GOLD = "zero_gold"
    ZERO_RESULT = "zero_result"
    MISMATCH = "mismatch"  # DSL result and gold differ by more than rel_tol
    PYTHON_MISMATCH = "python_mismatch"  # the emitted program fails or disagrees with the gold


@dataclass(frozen=True)
class ConversionRules:
    """``rel_tol`` is the paper's 1%; ``paper_ops_only`` drops problems using operations the
    paper's conversion did not implement (needed to reproduce its split sizes exactly)."""

    rel_tol: float = 0.01
    paper_ops_only: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.rel_tol < 1.0:
            raise UsageError(f"MathQA relative tolerance must be in (0, 1), got {self.rel_tol}")


PAPER_RULES = ConversionRules()


@dataclass(frozen=True)
class RawRecord:
    """One MathQA record as published; ``line`` is where it starts in its file (for errors)."""

    problem: str
    rationale: str
    options: str
    correct: str
    linear_formula: str
    category: str
    annotated_formula: str = ""
    line: int | None = None


class ArgKind(enum.Enum):
    NUMBER = "number"  # nK: the K-th number of the text
    RESULT = "result"  # #K: the result of step K
    CONSTANT = "constant"  # const_...


@dataclass(frozen=True)
class Arg:
    kind: ArgKind
    index: int = 0
    value: float = 0.0


@dataclass(frozen=True)
class Step:
    op: Operation
    args: tuple[Arg, ...]


class ConversionError(Exception):
    """A record that cannot become a problem; carries its ``DropReason``."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def extract_numbers(text: str) -> tuple[float, ...]:
    """All numbers of ``text`` in order, thousands separators removed ("4,000" -> 4000.0)."""
    return tuple(float(m.replace(",", "")) for m in _NUMBER_RE.findall(text))


def option_texts(options: str) -> dict[str, str]:
    """``"a ) 24 , b ) 1 / 2"`` -> ``{"a": "24", "b": "1 / 2"}`` (first label wins if repeated);
    list-literal spelling ``"['a ) 24', 'b ) 1 / 2']"`` gives the same."""
    labels = list(_OPTION_LABEL_RE.finditer(options))
    out: dict[str, str] = {}
    for i, label in enumerate(labels):
        end = labels[i + 1].start() if i + 1 < len(labels) else len(options)
        out.setdefault(label.group(1), options[label.end() : end].strip(_OPTION_JUNK))
    return out


def parse_answer(option: str) -> float | None:
    """The number an option states: its first number, divided by the next if written ``x / y``."""
    match = _NUMBER_RE.search(option)
    if match is None:
        return None
    value = float(match.group().replace(",", ""))
    tail = _FRACTION_TAIL_RE.match(option, match.end())
    if tail is not None:
        denominator = float(tail.group(1).replace(",", ""))
        if denominator == 0:
            return None
        value /= denominator
    return value


def gold_answer(options: str, correct: str) -> float | None:
    """The numeric gold answer of a record, or None when the correct option states no number."""
    option = option_texts(options).get(correct.strip().lower())
    return None if option is None else parse_answer(option)


@functools.lru_cache(maxsize=4096)
def _parse_arg(token: str) -> Arg:
    """Cached: a handful of distinct tokens (n0, #1, const_100...) recur across thousands of steps."""
    if token.startswith("const_"):
        try:
            return Arg(ArgKind.CONSTANT, value=constant_value(token))
        except ValueError as exc:
            raise ConversionError(DropReason.UNKNOWN_CONSTANT, str(exc)) from None
    match = _REF_RE.fullmatch(token)
    if match is None:
        raise ConversionError(DropReason.BAD_FORMULA, f"malformed argument '{token}'")
    kind = ArgKind.NUMBER if match.group(1) == "n" else ArgKind.RESULT
    return Arg(kind, index=int(match.group(2)))


def parse_formula(formula: str, rules: ConversionRules | None = None) -> tuple[Step, ...]:
    """``"add(n0,const_1)|divide(#0,n1)|"`` -> steps; raises ``ConversionError``."""
    rules = rules or PAPER_RULES
    steps: list[Step] = []
    for part in formula.split("|"):
        part = part.strip()
        if not part:
            continue
        match = _STEP_RE.fullmatch(part)
        if match is None:
            raise ConversionError(DropReason.BAD_FORMULA, f"malformed step '{part}'")
        name, arg_text = match.groups()
        op = OPERATIONS.get(name)
        if op is None:
            raise ConversionError(DropReason.UNKNOWN_OPERATION, f"unknown operation '{name}'")
        if rules.paper_ops_only and not op.paper:
            raise ConversionError(
                DropReason.UNSUPPORTED_OPERATION, f"operation '{name}' not in the paper's set"
            )
        args = tuple(_parse_arg(a.strip()) for a in arg_text.split(",")) if arg_text.strip() else ()
        if len(args) != op.arity:
            raise ConversionError(
                DropReason.WRONG_ARITY, f"'{name}' takes {op.arity} arguments, got {len(args)}"
            )
        steps.append(Step(op, args))
    if not steps:
        raise ConversionError(DropReason.BAD_FORMULA, "empty formula")
    return tuple(steps)


def check_references(steps: Sequence[Step], n_numbers: int) -> None:
    """Every ``nK`` names a number of the text and every ``#K`` an earlier step."""
    for position, step in enumerate(steps):
        for arg in step.args:
            if arg.kind is ArgKind.NUMBER and arg.index >= n_numbers:
                raise ConversionError(
                    DropReason.BAD_REFERENCE, f"n{arg.index} but the text has {n_numbers} numbers"
                )
            if arg.kind is ArgKind.RESULT and arg.index >= position:
                raise ConversionError(DropReason.BAD_REFERENCE, f"#{arg.index} used in step {position}")


def execute_dsl(steps: Sequence[Step], numbers: Sequence[float]) -> float:
    """Run the program with the operations' ``compute``; the last step's value is the answer."""
    check_references(steps, len(numbers))
    results: list[float] = []
    for step in steps:
        values = [_value(arg, numbers, results) for arg in step.args]
        try:
            result = step.op.compute(*values)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ConversionError(
                DropReason.MATH_ERROR, f"{step.op.name}: {type(exc).__name__}: {exc}"
            ) from None
        if isinstance(result, complex):
            raise ConversionError(DropReason.NOT_REAL, f"{step.op.name} gave {result}")
        results.append(result)
    return results[-1]


def _value(arg: Arg, numbers: Sequence[float], results: Sequence[float]) -> float:
    if arg.kind is ArgKind.NUMBER:
        return numbers[arg.index]
    if arg.kind is ArgKind.RESULT:
        return results[arg.index]
    return arg.value


def _atom(arg: Arg) -> str:
    if arg.kind is ArgKind.NUMBER:
        return f"n{arg.index}"
    if arg.kind is ArgKind.RESULT:
        return f"t{arg.index}"
    return repr(arg.value)


def to_python(steps: Sequence[Step], numbers: Sequence[float]) -> str:
    """The straight-line program: imports, ``nK = <float>``, ``tK = <expr>``, ``answer = <expr>``."""
    lines = ["import math"] if any(step.op.needs_math for step in steps) else []
    lines += [f"n{i} = {value!r}" for i, value in enumerate(numbers)]
    for position, step in enumerate(steps):
        target = "answer" if position == len(steps) - 1 else f"t{position}"
        lines.append(f"{target} = {step.op.python(tuple(_atom(a) for a in step.args))}")
    return "\n".join(lines) + "\n"


def run_program(code: str) -> float:
    """Execute a program this module emitted (trusted text) and return its ``answer``."""
    namespace: dict[str, object] = {}
    try:
        exec(compile(code, "<mathqa-python>", "exec"), namespace)  # noqa: S102 - our own generated code
    except Exception as exc:  # noqa: BLE001 - any failure of the emitted program drops the problem
        raise ConversionError(
            DropReason.PYTHON_MISMATCH, f"program raised {type(exc).__name__}: {exc}"
        ) from None
    answer = namespace.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise ConversionError(DropReason.PYTHON_MISMATCH, f"program answer is {type(answer).__name__}")
    return float(answer)


def is_close(a: float, b: float, rel_tol: float) -> bool:
    """The paper's agreement test (``math.isclose``: relative to the larger magnitude)."""
    return math.isclose(a, b, rel_tol=rel_tol)


def problem_text(problem: str, numbers: Sequence[float]) -> str:
    """The MathQA-Python prompt text: ``"# <problem> n0 = 4.0 n1 = 5.0"``."""
    return "# " + problem + "".join(f" n{i} = {value!r}" for i, value in enumerate(numbers))


@dataclass(frozen=True)
class MathQAItem:
    """One converted problem; ``index`` is its 0-based position in the converted split."""

    index: int
    source_index: int
    text: str
    code: str
    dsl_code: str
    reasoning: str
    answer: float  # what the program computes
    gold: float  # what the correct option states
    category: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one record: ``reason`` is None when it was kept (then ``item`` is set)."""

    source_index: int
    category: str
    reason: DropReason | None
    detail: str = ""
    gold: float | None = None
    result: float | None = None
    item: MathQAItem | None = None


@dataclass(frozen=True)
class Conversion:
    """All outcomes of a file, in record order, and the problems kept."""

    outcomes: tuple[Outcome, ...]

    @property
    def items(self) -> tuple[MathQAItem, ...]:
        return tuple(o.item for o in self.outcomes if o.item is not None)


def _strip_quotes(text: str) -> str:
    return text.strip().strip('"').strip("'").strip()


def _checked_result(
    rec: RawRecord, numbers: Sequence[float], gold: float, rules: ConversionRules
) -> tuple[float, str, float]:
    """DSL result, Python program and its answer, or a ConversionError naming the failed check."""
    steps = parse_formula(rec.linear_formula, rules)
    result = execute_dsl(steps, numbers)
    if result == 0:
        raise ConversionError(DropReason.ZERO_RESULT, "the program computes 0")
    if not is_close(gold, result, rules.rel_tol):
        raise ConversionError(DropReason.MISMATCH, f"program gives {result!r}, gold is {gold!r}")
    code = to_python(steps, numbers)
    answer = run_program(code)
    if answer == 0 or not is_close(gold, answer, rules.rel_tol):
        raise ConversionError(DropReason.PYTHON_MISMATCH, f"python gives {answer!r}, gold is {gold!r}")
    return result, code, answer


def convert_record(source_index: int, rec: RawRecord, index: int, rules: ConversionRules) -> Outcome:
    """Convert one record; ``index`` is the id it gets if kept."""
    gold = gold_answer(rec.options, rec.correct)
    if gold is None:
        return Outcome(
            source_index, rec.category, DropReason.NO_GOLD, f"option {rec.correct!r} has no number"
        )
    if gold == 0:
        return Outcome(source_index, rec.category, DropReason.ZERO_GOLD, "the gold answer is 0", gold=gold)
    numbers = extract_numbers(rec.problem)
    try:
        result, code, answer = _checked_result(rec, numbers, gold, rules)
    except ConversionError as exc:
        return Outcome(source_index, rec.category, exc.reason, exc.detail, gold=gold)
    item = MathQAItem(
        index=index,
        source_index=source_index,
        text=problem_text(rec.problem, numbers),
        code=code,
        dsl_code=rec.linear_formula,
        reasoning=_strip_quotes(rec.rationale),
        answer=answer,
        gold=gold,
        category=rec.category,
    )
    return Outcome(source_index, rec.category, None, gold=gold, result=result, item=item)


def convert_records(records: Sequence[RawRecord], rules: ConversionRules | None = None) -> Conversion:
    """Convert a whole file; kept problems are numbered 0, 1, ... in record order."""
    rules = rules or PAPER_RULES
    outcomes: list[Outcome] = []
    kept = 0
    for source_index, rec in enumerate(records):
        outcome = convert_record(source_index, rec, kept, rules)
        kept += outcome.item is not None
        outcomes.append(outcome)
    return Conversion(tuple(outcomes))
