"""Prompts: the paper's format byte for byte, shot selection, asserts shown, chat style, and the
guarantee that no prompt contains its own target task."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle
from progsynth.benchmarks.mbpp import MBPP, SanitizedMBPP
from progsynth.errors import UsageError
from progsynth.prompts import (
    CHAT_REQUEST,
    Shot,
    ShotSubstitutionWarning,
    chat_prompt,
    choose_shots,
    paper_prompt,
    shot_block,
    task_block,
)
from progsynth.types import Problem

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DataConfig(data_dir=SHARED, allow_download=False)

# Written out by hand from mbpp.jsonl tasks 2, 3, 4 and 11 (note the trailing spaces some tasks carry
# in their code and asserts, and that the reference code's \r\n became \n).
EXPECTED_TASK_11 = (
    "You are an expert Python programmer, and here is your task: Write a function to find the similar "
    "elements from the given two tuple lists. Your code should pass these tests:\n"
    "\n"
    "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
    "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\n"
    "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n"
    "[BEGIN]\n"
    "def similar_elements(test_tup1, test_tup2):\n"
    "  res = tuple(set(test_tup1) & set(test_tup2))\n"
    "  return (res) \n"
    "[DONE]\n"
    "You are an expert Python programmer, and here is your task: Write a python function to identify "
    "non-prime numbers. Your code should pass these tests:\n"
    "\n"
    "assert is_not_prime(2) == False\n"
    "assert is_not_prime(10) == True\n"
    "assert is_not_prime(35) == True\n"
    "[BEGIN]\n"
    "import math\n"
    "def is_not_prime(n):\n"
    "    result = False\n"
    "    for i in range(2,int(math.sqrt(n)) + 1):\n"
    "        if n % i == 0:\n"
    "            result = True\n"
    "    return result\n"
    "[DONE]\n"
    "You are an expert Python programmer, and here is your task: Write a function to find the largest "
    "integers from a given list of numbers using heap queue algorithm. Your code should pass these tests:\n"
    "\n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] \n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] \n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]\n"
    "[BEGIN]\n"
    "import heapq as hq\n"
    "def heap_queue_largest(nums,n):\n"
    "  largest_nums = hq.nlargest(n, nums)\n"
    "  return largest_nums\n"
    "[DONE]\n"
    "You are an expert Python programmer, and here is your task: Write a python function to remove first "
    "and last occurrence of a given character from the string. Your code should pass these tests:\n"
    "\n"
    'assert remove_Occ("hello","l") == "heo"\n'
    'assert remove_Occ("abcda","a") == "bcd"\n'
    'assert remove_Occ("PHP","P") == "H"\n'
    "[BEGIN]\n"
)


@pytest.fixture(scope="module")
def mbpp() -> MBPP:
    return MBPP()


def _task(bench: MBPP | SanitizedMBPP, number: int) -> Problem:
    return bench.by_id(DATA)[f"Mbpp/{number}"]


def _shot_ids(bench: MBPP | SanitizedMBPP, problem: Problem, config: PromptConfig) -> list[str]:
    return [p.task_id for p in bench.select_shots(problem, config, DATA)]


def test_task_11_default_prompt_is_the_paper_format_byte_for_byte(mbpp: MBPP) -> None:
    assert mbpp.prompt(_task(mbpp, 11), PromptConfig(), DATA) == EXPECTED_TASK_11


def test_format_helpers_keep_their_exact_output() -> None:
    shot = Shot("Do x.", ("assert x() == 1", "assert x() != 2"), "def x():\n    return 1")
    assert (
        task_block("Do y.", ())
        == "You are an expert Python programmer, and here is your task: Do y.\n[BEGIN]\n"
    )
    assert shot_block(shot) == (
        "You are an expert Python programmer, and here is your task: Do x. Your code should pass these tests:"
        "\n\nassert x() == 1\nassert x() != 2\n[BEGIN]\ndef x():\n    return 1\n[DONE]\n"
    )
    assert paper_prompt("Do y.", ("assert y()",), [shot, shot]) == (
        shot_block(shot)
        * 2
        + "You are an expert Python programmer, and here is your task: Do y. Your code should pass these tests:"
        "\n\nassert y()\n[BEGIN]\n"
    )


def test_zero_shots_is_just_the_target_block(mbpp: MBPP) -> None:
    problem = _task(mbpp, 11)
    assert (
        mbpp.prompt(problem, PromptConfig(shots=0), DATA)
        == EXPECTED_TASK_11[EXPECTED_TASK_11.rindex("You are") :]
    )


def test_more_shots_continue_through_the_prompt_pool_in_order(mbpp: MBPP) -> None:
    problem = _task(mbpp, 11)
    assert _shot_ids(mbpp, problem, PromptConfig(shots=1)) == ["Mbpp/2"]
    assert _shot_ids(mbpp, problem, PromptConfig(shots=5)) == [
        "Mbpp/2",
        "Mbpp/3",
        "Mbpp/4",
        "Mbpp/1",
        "Mbpp/5",
    ]
    assert len(_shot_ids(mbpp, problem, PromptConfig(shots=10))) == 10
    in_pool = _task(mbpp, 3)
    assert _shot_ids(mbpp, in_pool, PromptConfig()) == ["Mbpp/2", "Mbpp/4", "Mbpp/1"]
    with pytest.raises(UsageError, match="only 9 task"):
        mbpp.prompt(in_pool, PromptConfig(shots=10), DATA)


def test_explicit_shot_ids_accept_every_id_spelling(mbpp: MBPP) -> None:
    config = PromptConfig(shot_ids=("7", "mbpp/5", "Mbpp/600"))
    assert _shot_ids(mbpp, _task(mbpp, 11), config) == ["Mbpp/7", "Mbpp/5", "Mbpp/600"]
    with pytest.raises(UsageError, match="shot ids: unknown mbpp task id 'x'"):
        mbpp.prompt(_task(mbpp, 11), PromptConfig(shot_ids=("x",)), DATA)


def test_target_listed_as_a_shot_is_replaced_with_a_warning(mbpp: MBPP) -> None:
    config = PromptConfig(shot_ids=("2", "11", "4"))
    with pytest.warns(ShotSubstitutionWarning, match="Mbpp/11 is the task being prompted; using Mbpp/3"):
        ids = _shot_ids(mbpp, _task(mbpp, 11), config)
    assert ids == ["Mbpp/2", "Mbpp/3", "Mbpp/4"]


def test_choose_shots_runs_out_of_spares() -> None:
    with pytest.raises(UsageError, match="no other pool task"):
        choose_shots("a", ["a", "b"], ["b", "a"], 2)


@pytest.mark.parametrize("shown", [0, 1, 2, 3])
def test_asserts_shown_limits_the_prompt_not_the_tests(mbpp: MBPP, shown: int) -> None:
    problem = _task(mbpp, 11)
    prompt = mbpp.prompt(problem, PromptConfig(asserts_shown=shown), DATA)
    assert prompt.count("\nassert ") == 4 * shown  # three shots and the target
    assert all(t in prompt for t in problem.tests[:shown])
    assert not any(t in prompt for t in problem.tests[shown:])
    assert len(problem.tests) == 3 and len(problem.challenge_tests) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shots": 11},
        {"shots": -1},
        {"asserts_shown": 4},
        {"shot_ids": ("2", "2")},
        {"shot_ids": tuple("123456789ab")},
    ],
)
def test_prompt_config_is_validated_once(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        PromptConfig(**kwargs)  # type: ignore[arg-type]


def test_sanitized_prompts_use_the_sanitized_shots() -> None:
    bench = SanitizedMBPP()
    prompt = bench.prompt(_task(bench, 11), PromptConfig(), DATA)
    assert "Write a function to find the shared elements from the given two lists." in prompt
    assert "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))" in prompt
    assert bench.shot_pool("test", DATA) == tuple(f"Mbpp/{n}" for n in (2, 3, 4, 6, 7, 8, 9))
    assert prompt.endswith("[BEGIN]\n")


def test_chat_prompt_is_a_plain_user_message_asking_for_a_python_block(mbpp: MBPP) -> None:
    problem = _task(mbpp, 11)
    zero = mbpp.prompt(problem, PromptConfig(shots=0, style=PromptStyle.CHAT), DATA)
    assert zero == (
        "You are an expert Python programmer, and here is your task: Write a python function to remove first "
        "and last occurrence of a given character from the string. Your code should pass these tests:\n\n"
        + "\n".join(problem.tests)
        + "\n\nWrite the complete solution as Python code in a single ```python code block.\n"
    )
    shot = Shot("Do x.", ("assert x() == 1",), "def x():\n    return 1")
    two = chat_prompt("Do y.", (), [shot])
    assert "Example task: Do x. Your code should pass these tests:\n\nassert x() == 1\nSolution:\n" in two
    assert "```python\ndef x():\n    return 1\n```\n\n" in two
    assert two.endswith("here is your task: Do y.\n\n" + CHAT_REQUEST)
    assert "[BEGIN]" not in two and mbpp.stop_sequences(PromptConfig(style=PromptStyle.CHAT)) == ()


CONFIGS = [
    PromptConfig(),
    PromptConfig(shots=0),
    PromptConfig(shots=7, asserts_shown=1),
    PromptConfig(shot_ids=("Mbpp/11", "Mbpp/2", "Mbpp/600")),
    PromptConfig(shots=2, style=PromptStyle.CHAT),
]


@pytest.mark.parametrize("bench", [MBPP(), SanitizedMBPP()], ids=["mbpp", "sanitized"])
def test_no_prompt_ever_contains_its_own_target(bench: MBPP | SanitizedMBPP) -> None:
    max_shots = len(bench.shot_pool("test", DATA)) - 1
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShotSubstitutionWarning)
        for problem in bench.load("all", DATA):
            for config in CONFIGS:
                if config.shots > max_shots and config.shot_ids is None:
                    continue
                shots = bench.select_shots(problem, config, DATA)
                prompt = bench.prompt(problem, config, DATA)
                assert problem.task_id not in {s.task_id for s in shots}
                assert problem.reference not in prompt, problem.task_id
                assert len(shots) == (len(config.shot_ids) if config.shot_ids else config.shots)
                checked += 1
    assert checked >= 4 * len(bench.load("all", DATA))
