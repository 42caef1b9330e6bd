"""Number extraction, answer parsing, the DSL and the Python emitter, on real MathQA records."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from progsynth.benchmarks.mathqa.convert import (
    ArgKind,
    ConversionError,
    ConversionRules,
    DropReason,
    RawRecord,
    convert_record,
    execute_dsl,
    extract_numbers,
    gold_answer,
    option_texts,
    parse_answer,
    parse_formula,
    problem_text,
    run_program,
    to_python,
)
from progsynth.benchmarks.mathqa.data import read_records
from progsynth.errors import UsageError

DATA_DIR = Path(
    os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@functools.cache
def _records(name: str) -> list[RawRecord]:
    return read_records(DATA_DIR / "mathqa" / name)


def dev(index: int) -> RawRecord:
    return _records("dev.json")[index]


# --- numbers in the problem text --------------------------------------------------------------------


def test_numbers_in_order_of_appearance() -> None:
    rec = dev(0)
    assert rec.problem.startswith("a multiple choice test consists of 4 questions")
    assert extract_numbers(rec.problem) == (4.0, 5.0)


def test_thousands_separators_are_removed() -> None:
    rec = dev(104)
    assert "$ 8,000" in rec.problem
    assert extract_numbers(rec.problem) == (8000.0, 9.0, 6.0)


def test_decimals() -> None:
    rec = dev(12)
    assert "rs . 1348.32" in rec.problem
    assert extract_numbers(rec.problem) == (1200.0, 1348.32, 2.0)


def test_a_spaced_hyphen_is_not_a_minus_sign() -> None:
    rec = dev(1)
    assert rec.problem.startswith("a 3 - digit positive integer")
    assert extract_numbers(rec.problem) == (3.0,)


def test_fractions_in_text_are_two_numbers() -> None:
    rec = dev(3)
    assert "1 / m + 1 / n" in rec.problem
    assert extract_numbers(rec.problem) == (6.0, 210.0, 72.0, 1.0, 1.0)


def test_number_edge_cases() -> None:
    assert extract_numbers("costs .5 or 5. or 1,234,567 ; 1,00 is two") == (0.5, 5.0, 1234567.0, 1.0, 0.0)
    assert extract_numbers("no digits here") == ()


# --- the gold answer ------------------------------------------------------------------------------


def test_gold_integer_option() -> None:
    rec = dev(0)
    assert rec.options == "a ) 24 , b ) 120 , c ) 625 , d ) 720 , e ) 1024" and rec.correct == "c"
    assert gold_answer(rec.options, rec.correct) == 625.0


def test_gold_fraction_option() -> None:
    rec = dev(1)
    assert rec.correct == "b" and "b ) 31 / 36" in rec.options
    assert gold_answer(rec.options, rec.correct) == 31 / 36


def test_gold_with_thousands_separator() -> None:
    rec = dev(41)
    assert "c ) 16,820" in rec.options and rec.correct == "c"
    assert gold_answer(rec.options, rec.correct) == 16820.0


def test_gold_percent_option() -> None:
    rec = dev(12)
    assert rec.options.startswith("a ) 6 % ,") and rec.correct == "a"
    assert gold_answer(rec.options, rec.correct) == 6.0


def test_options_written_as_a_list_literal() -> None:
    rec = dev(40)
    assert rec.options.startswith("['a ) 4', 'b ) 4 π'")
    assert option_texts(rec.options) == {"a": "4", "b": "4 π", "c": "16", "d": "8 π", "e": "16"}
    # "4 π" states 4 (the paper's rule reads the first number only); the record is then dropped
    assert gold_answer(rec.options, rec.correct) == 4.0


def test_mixed_numbers_read_their_whole_part() -> None:
    rec = dev(51)
    assert option_texts(rec.options)["a"] == "13 1 / 2"
    assert gold_answer(rec.options, "a") == 13.0
    assert gold_answer(rec.options, rec.correct) == 20.0


def test_options_without_a_number() -> None:
    assert gold_answer("a ) 18 , b ) 8 , c ) 12 , d ) 16 , e ) none of these", "e") is None
    assert gold_answer("a ) one , b ) three , c ) two , d ) five , e ) four", "a") is None
    assert gold_answer("a ) 1 , b ) 2", "d") is None  # no such option
    assert parse_answer("5 / 0") is None


# --- formulas, the DSL and Python ------------------------------------------------------------------


def test_parse_formula_arguments() -> None:
    steps = parse_formula("add(n1,const_100)|subtract(const_100,n0)|divide(#0,#1)|")
    assert [s.op.name for s in steps] == ["add", "subtract", "divide"]
    assert steps[0].args[1].kind is ArgKind.CONSTANT and steps[0].args[1].value == 100.0
    assert steps[2].args[0].kind is ArgKind.RESULT and steps[2].args[0].index == 0


@pytest.mark.parametrize(
    "formula,reason",
    [
        ("add(n0,n1", DropReason.BAD_FORMULA),
        ("add(n0,x1)", DropReason.BAD_FORMULA),
        ("|", DropReason.BAD_FORMULA),
        ("teleport(n0,n1)", DropReason.UNKNOWN_OPERATION),
        ("min(n0,n1)", DropReason.UNSUPPORTED_OPERATION),
        ("add(n0)", DropReason.WRONG_ARITY),
        ("add(n0,const_e)", DropReason.UNKNOWN_CONSTANT),
    ],
)
def test_malformed_formulas_are_classified(formula: str, reason: DropReason) -> None:
    with pytest.raises(ConversionError) as info:
        parse_formula(formula)
    assert info.value.reason is reason


def test_full_operation_table_accepts_min() -> None:
    steps = parse_formula("min(n0,n1)", ConversionRules(paper_ops_only=False))
    assert execute_dsl(steps, (3.0, 2.0)) == 2.0


@pytest.mark.parametrize(
    "formula,numbers,reason",
    [
        ("add(n0,n2)", (1.0, 2.0), DropReason.BAD_REFERENCE),
        ("add(n0,#0)", (1.0, 2.0), DropReason.BAD_REFERENCE),
        ("factorial(n0)", (-3.0,), DropReason.MATH_ERROR),
        ("power(n0,const_0_5)", (-4.0,), DropReason.NOT_REAL),
    ],
)
def test_execution_failures_are_classified(
    formula: str, numbers: tuple[float, ...], reason: DropReason
) -> None:
    with pytest.raises(ConversionError) as info:
        execute_dsl(parse_formula(formula), numbers)
    assert info.value.reason is reason


def test_python_program_shape() -> None:
    steps = parse_formula("add(n1,const_100)|circle_area(#0)|divide(#1,n0)")
    code = to_python(steps, (2.0, 3.0))
    assert code == (
        "import math\nn0 = 2.0\nn1 = 3.0\nt0 = n1 + 100.0\nt1 = math.pi * t0**2\nanswer = t1 / n0\n"
    )
    assert run_program(code) == pytest.approx(execute_dsl(steps, (2.0, 3.0)))
    assert "import" not in to_python(parse_formula("add(n0,n0)"), (1.0,))


def test_problem_text_format() -> None:
    assert problem_text("a b 4 c 5", (4.0, 5.0)) == "# a b 4 c 5 n0 = 4.0 n1 = 5.0"


def _record(problem: str, formula: str, options: str, correct: str = "a") -> RawRecord:
    return RawRecord(problem, '"why"', options, correct, formula, "general")


def test_convert_record_keeps_a_real_problem() -> None:
    outcome = convert_record(0, dev(0), 0, ConversionRules())
    assert outcome.reason is None and outcome.item is not None
    item = outcome.item
    assert item.text == "# " + dev(0).problem + " n0 = 4.0 n1 = 5.0"
    assert item.code == "n0 = 4.0\nn1 = 5.0\nanswer = n1**min(n0, 5)\n"
    assert (item.gold, item.answer, item.dsl_code, item.category) == (
        625.0,
        625.0,
        "power(n1,n0)|",
        "general",
    )
    assert item.reasoning.startswith("5 choices for each") and item.reasoning.endswith("answer : c .")


@pytest.mark.parametrize(
    "record,reason",
    [
        (_record("7 and 8", "add(n0,n1)", "a ) none , b ) 2"), DropReason.NO_GOLD),
        (_record("7 and 8", "add(n0,n1)", "a ) 0 , b ) 2"), DropReason.ZERO_GOLD),
        (_record("7 and 7", "subtract(n0,n1)", "a ) 3 , b ) 2"), DropReason.ZERO_RESULT),
        (_record("7 and 8", "add(n0,n1)", "a ) 15.2 , b ) 2"), DropReason.MISMATCH),
        # the DSL reads 5 / 0 as 0 (so 0 + 5 = 5 matches); the Python program divides by zero
        (
            _record("5 apples and 0 pears", "divide(n0,n1)|add(#0,n0)", "a ) 5 , b ) 2"),
            DropReason.PYTHON_MISMATCH,
        ),
    ],
)
def test_convert_record_drop_reasons(record: RawRecord, reason: DropReason) -> None:
    outcome = convert_record(0, record, 0, ConversionRules())
    assert outcome.reason is reason and outcome.item is None


def test_tolerance_is_relative_to_the_larger_value() -> None:
    kept = convert_record(0, _record("7 and 8", "add(n0,n1)", "a ) 15.15"), 0, ConversionRules())
    assert kept.reason is None  # |15 - 15.15| <= 1% of 15.15
    strict = convert_record(
        0, _record("7 and 8", "add(n0,n1)", "a ) 15.15"), 0, ConversionRules(rel_tol=0.001)
    )
    assert strict.reason is DropReason.MISMATCH


def test_rules_are_validated() -> None:
    with pytest.raises(UsageError, match="tolerance"):
        ConversionRules(rel_tol=0.0)
