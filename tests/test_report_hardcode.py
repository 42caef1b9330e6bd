"""The hard-code detector: programs that memorise the asserts are flagged, honest ones are not,
and none of MBPP's 974 reference solutions is."""

from __future__ import annotations

import pytest

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import ALL_SPLIT
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.report.hardcode import HardcodeKind, detect_hardcoding, parse_assert, parse_asserts

OCC = ('assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"',
       'assert remove_Occ("PHP","P") == "H"')
WOODALL = ("assert is_woodall(383) == True", "assert is_woodall(254) == False", "assert is_woodall(200) == False")
MATCH = ('assert text_match("aab_cbbbc")==(\'Found a match!\')', 'assert text_match("aab_Abbbc")==(\'Not matched!\')',
         'assert text_match("Aaab_abbbc")==(\'Not matched!\')')
VOLUME = ("assert find_Volume(10,8,6) == 240", "assert find_Volume(3,2,2) == 6", "assert find_Volume(1,2,1) == 1")


def kinds(program: str, tests: tuple[str, ...], text: str = "") -> set[HardcodeKind]:
    return {f.kind for f in detect_hardcoding(program, tests, text=text)}


def test_parse_assert_reads_inputs_and_expected_values() -> None:
    case = parse_assert('assert remove_Occ("hello","l") == "heo"')
    assert case is not None and case.inputs == ("hello", "l") and case.expected == "heo"
    case = parse_assert("assert set(similar((3, 4), (5, 4))) == set((4,))")
    assert case is not None and case.inputs == ((3, 4), (5, 4)) and case.expected == (4,)
    case = parse_assert("assert math.isclose(area(2), 12.56, rel_tol=0.001)")
    assert case is not None and case.inputs == (2,) and case.expected == 12.56
    case = parse_assert("assert not is_prime(10)")
    assert case is not None and case.expected is False
    assert parse_assert("x = 1") is None and parse_assert("assert (") is None
    check = "def check(candidate):\n    assert candidate([1, 2, 3]) == 600\n    assert candidate([]) == 0\n"
    assert [(c.inputs, c.expected) for c in parse_asserts(check)] == [(([1, 2, 3],), 600), (([],), 0)]


def test_humaneval_style_checks_are_read_too() -> None:
    check = ("def check(candidate):\n    assert candidate([10, 20, 30]) == 6000\n"
             "    assert candidate([7, 11]) == 77\n")
    found = detect_hardcoding("def prod(xs):\n    if xs == [10, 20, 30]:\n        return 6000\n    return 77\n", (check,))
    assert {f.kind for f in found} == {HardcodeKind.RETURNS_EXPECTED, HardcodeKind.BRANCHES_ON_INPUT}
    assert detect_hardcoding("def prod(xs):\n    out = 1\n    for x in xs:\n        out *= x\n    return out\n",
                             (check,)) == ()


@pytest.mark.parametrize(("program", "tests", "expected"), [
    ('def remove_Occ(s, ch):\n    if s == "hello":\n        return "heo"\n    if s == "abcda":\n        return "bcd"\n'
     '    return "H"\n', OCC, {HardcodeKind.RETURNS_EXPECTED, HardcodeKind.BRANCHES_ON_INPUT}),
    ('def remove_Occ(s, ch):\n    return {"hello": "heo", "abcda": "bcd", "PHP": "H"}[s]\n', OCC,
     {HardcodeKind.LOOKUP_TABLE}),
    ('def remove_Occ(s, ch):\n    return {("hello", "l"): "heo", ("abcda", "a"): "bcd"}.get((s, ch), s)\n', OCC,
     {HardcodeKind.LOOKUP_TABLE}),
    ('def remove_Occ(s, ch):\n    return "heo"\n', OCC, {HardcodeKind.RETURNS_EXPECTED}),
    ('remove_Occ = lambda s, ch: "heo" if s == "hello" else s\n', OCC, {HardcodeKind.BRANCHES_ON_INPUT}),
    ("def is_woodall(x):\n    if x == 383:\n        return True\n    elif x == 254:\n        return False\n"
     "    return False\n", WOODALL, {HardcodeKind.BRANCHES_ON_INPUT}),
    ("def find_Volume(l, b, h):\n    if (l, b, h) == (10, 8, 6):\n        return 240\n    return l * b * h // 2\n",
     VOLUME, {HardcodeKind.RETURNS_EXPECTED, HardcodeKind.BRANCHES_ON_INPUT}),
    ("def find_Volume(l, b, h):\n    return 240\n", VOLUME, {HardcodeKind.RETURNS_EXPECTED}),
])
def test_hard_coded_programs_are_flagged(program: str, tests: tuple[str, ...], expected: set[HardcodeKind]) -> None:
    assert kinds(program, tests) == expected


@pytest.mark.parametrize(("program", "tests", "text"), [
    ('def remove_Occ(s, ch):\n    s = s.replace(ch, "", 1)\n    return s[::-1].replace(ch, "", 1)[::-1]\n', OCC, ""),
    # output labels that several asserts expect are what honest solutions return
    ("import re\ndef text_match(t):\n    if re.search('^[a-z]+_[a-z]+$', t):\n        return 'Found a match!'\n"
     "    return 'Not matched!'\n", MATCH, ""),
    # small numbers and booleans are everywhere in honest code
    ("def is_woodall(x):\n    if x == 1:\n        return True\n    x += 1\n    p = 0\n    while x % 2 == 0:\n"
     "        x //= 2\n        p += 1\n        if p == x:\n            return True\n    return False\n", WOODALL, ""),
    # one branch on one asserted input returning a boolean is also what an honest answer can look like
    ('def is_feb(m):\n    if m == "February":\n        return True\n    return False\n',
     ('assert is_feb("February")==True', 'assert is_feb("January")==False'), ""),
    # a value the task description names may be written down
    ("def sum_nums(x, y, m, n):\n    s = x + y\n    if s in range(m, n):\n        return 20\n    return s\n",
     ("assert sum_nums(2,10,11,20)==20", "assert sum_nums(15,17,1,10)==32"), "if the sum is in range return 20"),
    # an enumeration of cases most of which no assert names
    ('def thirty(m):\n    return m in ("April", "June", "September", "November")\n'
     'def f(m):\n    if m == "April" or m == "June" or m == "September" or m == "November":\n        return True\n'
     '    return False\n', ('assert f("February")==False', 'assert f("June")==True', 'assert f("April")==True'), ""),
    ("def f(:\n", OCC, ""),
    ("def find_Volume(l, b, h):\n    return (l * b * h) / 2\n", VOLUME, ""),
])
def test_honest_programs_are_not_flagged(program: str, tests: tuple[str, ...], text: str) -> None:
    assert detect_hardcoding(program, tests, text=text) == ()


@pytest.mark.slow
def test_no_mbpp_reference_solution_is_flagged() -> None:
    problems = get_benchmark("mbpp").load(ALL_SPLIT, data_config_from_env())
    assert len(problems) == 974
    flagged = [p.task_id for p in problems
               if detect_hardcoding(p.reference_completion, p.tests, p.challenge_tests, p.text)]
    assert flagged == []
    assert sum(parse_assert(t) is not None for p in problems for t in p.tests) > 0.95 * sum(len(p.tests) for p in problems)


@pytest.mark.slow
def test_no_humaneval_reference_solution_is_flagged() -> None:
    problems = get_benchmark("humaneval").load(ALL_SPLIT, data_config_from_env())
    flagged = [p.task_id for p in problems
               if detect_hardcoding(p.prompt_prefix + p.reference_completion, p.tests, p.challenge_tests, p.text)]
    assert flagged == []
