"""The defaults every benchmark inherits from ``Benchmark``: task-id normalization and stop sequences."""

from __future__ import annotations

import pytest

from progsynth.benchmarks.base import Benchmark, DataConfig, PromptConfig, PromptStyle, UnknownTaskError
from progsynth.types import Problem


class Plain(Benchmark):
    """A benchmark that only relies on the base class defaults."""

    name = "plain"
    stop = ("END",)

    def load(self, split: str, data: DataConfig) -> list[Problem]:
        return []

    def prompt(self, problem: Problem, config: PromptConfig, data: DataConfig) -> str:
        return problem.text

    def extract(self, problem: Problem, raw: str) -> str:
        return raw


@pytest.mark.parametrize(("raw", "expected"), [("t/1", "t/1"), (" t/1 ", "t/1"), (7, "7")])
def test_default_normalize_keeps_strings_and_ints(raw: object, expected: str) -> None:
    assert Plain().normalize_task_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", None, True, 1.5, ["t/1"]])
def test_default_normalize_rejects_non_ids(raw: object) -> None:
    with pytest.raises(UnknownTaskError, match="unknown plain task id"):
        Plain().normalize_task_id(raw)


def test_stop_sequences_follow_the_prompt_style() -> None:
    assert Plain().stop_sequences(PromptConfig()) == ("END",)
    assert Plain().stop_sequences(PromptConfig(style=PromptStyle.CHAT)) == ()


def test_unknown_task_error_becomes_a_usage_or_data_error() -> None:
    err = UnknownTaskError("plain", "x", "t/<n>")
    assert str(err.as_usage("--task-id")) == "--task-id: unknown plain task id 'x' (expected t/<n>)"
    assert (
        str(err.at("s.jsonl", 2)) == "s.jsonl:2: field 'task_id': unknown plain task id 'x' (expected t/<n>)"
    )
    assert err.at("s.jsonl", 2).exit_code == 3
