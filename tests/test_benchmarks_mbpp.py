"""MBPP full and sanitized: splits, fields, data quirks (CRLF, task 367's setup order, challenge
tests), task ids, extraction, malformed files, and load speed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from support import run_parts

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig, UnknownTaskError
from progsynth.benchmarks.mbpp import MBPP, SanitizedMBPP, split_of
from progsynth.benchmarks.records import clear_parse_cache
from progsynth.errors import ChecksumError, DataError, ProgsynthError
from progsynth.types import Problem

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DataConfig(data_dir=SHARED, allow_download=False)
RAW_LINES = (SHARED / "mbpp" / "mbpp.jsonl").read_text().splitlines()

# Runs the parts it reads from stdin in one namespace, in the given order (the executor's contract).


def by_id(bench: MBPP | SanitizedMBPP) -> dict[str, Problem]:
    return dict(bench.by_id(DATA))


def test_registry_names_the_mbpp_benchmarks() -> None:
    assert isinstance(get_benchmark("mbpp"), MBPP)
    assert isinstance(get_benchmark("mbpp-sanitized"), SanitizedMBPP)


def test_full_split_sizes_and_id_ranges() -> None:
    bench = MBPP()
    sizes = {split: len(bench.load(split, DATA)) for split in bench.splits}
    assert sizes == {"prompt": 10, "test": 500, "validation": 90, "train": 374}
    everything = bench.load("all", DATA)
    assert len(everything) == 974
    assert [p.task_id for p in everything] == [f"Mbpp/{n}" for n in range(1, 975)]
    test = bench.load("test", DATA)
    assert (test[0].task_id, test[-1].task_id) == ("Mbpp/11", "Mbpp/510")
    assert all(p.benchmark == "mbpp" and p.split == split_of(int(p.task_id[5:])) for p in everything)


def test_sanitized_split_sizes_and_fields() -> None:
    bench = SanitizedMBPP()
    sizes = {split: len(bench.load(split, DATA)) for split in bench.splits}
    assert sizes == {"prompt": 7, "test": 257, "validation": 43, "train": 120}
    problems = bench.load("all", DATA)
    assert len(problems) == 427 and all(p.benchmark == "mbpp-sanitized" for p in problems)
    task2 = by_id(bench)["Mbpp/2"]
    assert task2.text == "Write a function to find the shared elements from the given two lists."
    with_imports = [p for p in problems if p.setup]
    assert len(with_imports) == 13 and all(p.setup == "import math\n" for p in with_imports)
    assert max(len(p.tests) for p in problems) == 7 and min(len(p.tests) for p in problems) == 3


def test_challenge_tests_exactly_where_the_data_has_them() -> None:
    problems = MBPP().load("all", DATA)
    with_challenge = [p.task_id for p in problems if p.challenge_tests]
    assert with_challenge == [f"Mbpp/{n}" for n in (11, 16, 20, 23, 25, 26, 28, 42, 43, 44, 47)]
    raw11 = json.loads(RAW_LINES[10])
    assert by_id(MBPP())["Mbpp/11"].challenge_tests == tuple(raw11["challenge_test_list"])
    assert all(len(p.tests) == 3 for p in problems)


def test_crlf_reference_code_is_normalized_to_lf() -> None:
    crlf_in_file = sum("\r\n" in json.loads(line)["code"] for line in RAW_LINES)
    assert crlf_in_file == 972
    problems = MBPP().load("all", DATA)
    assert not any(
        "\r" in p.reference or "\r" in p.setup or any("\r" in t for t in p.tests) for p in problems
    )
    task1 = by_id(MBPP())["Mbpp/1"]
    assert task1.reference == json.loads(RAW_LINES[0])["code"].replace("\r\n", "\n")
    assert task1.reference.startswith("R = 3\nC = 3\ndef min_cost(cost, m, n): \n")


def test_task_367_runs_program_then_setup_then_asserts() -> None:
    task = by_id(MBPP())["Mbpp/367"]
    assert "Node(1)" in task.setup and "class Node" in task.reference
    ok = run_parts(task.reference, task.setup, *task.tests)
    assert ok.returncode == 0, ok.stderr
    wrong_order = run_parts(task.setup, task.reference, *task.tests)
    assert wrong_order.returncode != 0 and "NameError: name 'Node' is not defined" in wrong_order.stderr


@pytest.mark.parametrize("number", [1, 11, 62, 927])
def test_normalized_references_pass_all_their_tests(number: int) -> None:
    task = by_id(MBPP())[f"Mbpp/{number}"]
    bench = MBPP()
    program = bench.program(task, task.reference_completion)
    result = run_parts(program, task.setup, *task.tests, *task.challenge_tests)
    assert result.returncode == 0, result.stderr


def test_sanitized_test_imports_run_as_setup() -> None:
    task = by_id(SanitizedMBPP())["Mbpp/82"]
    assert task.setup == "import math\n" and "math." in "".join(task.tests)
    assert run_parts(task.reference, task.setup, *task.tests).returncode == 0


@pytest.mark.parametrize("raw", [11, "11", " 11 ", "mbpp/11", "Mbpp/11", "MBPP/011"])
def test_task_id_spellings_normalize(raw: object) -> None:
    assert MBPP().normalize_task_id(raw) == "Mbpp/11"
    assert SanitizedMBPP().normalize_task_id(raw) == "Mbpp/11"


@pytest.mark.parametrize("raw", [0, 975, -3, "abc", "HumanEval/11", "Mbpp/", None, True, 11.0, ""])
def test_unknown_task_ids_are_a_wrappable_error(raw: object) -> None:
    with pytest.raises(UnknownTaskError) as info:
        MBPP().normalize_task_id(raw)
    assert isinstance(info.value, ProgsynthError) and isinstance(info.value, KeyError)
    wrapped = info.value.at("samples.jsonl", 4)
    assert isinstance(wrapped, DataError)
    assert str(wrapped).startswith("samples.jsonl:4: field 'task_id': unknown mbpp task id ")
    assert "Mbpp/1 to Mbpp/974" in str(wrapped)


def test_extract_handles_paper_and_chat_outputs() -> None:
    bench, task = MBPP(), by_id(MBPP())["Mbpp/11"]
    assert bench.extract(task, "def f():\r\n    return 1\r\n[DONE]\nYou are an") == "def f():\n    return 1\n"
    chat = "Here it is:\n```python\ndef f():\n    return 1\n```\nIt returns one."
    assert bench.extract(task, chat) == "def f():\n    return 1\n"
    assert bench.stop_sequences(PromptConfig()) == ("[DONE]",)


# --- malformed files (checksum check off so the parser sees them) -----------------------------------


def _data_dir_with(tmp_path: Path, name: str, content: str) -> DataConfig:
    (tmp_path / "mbpp").mkdir(exist_ok=True)
    (tmp_path / "mbpp" / name).write_text(content)
    return DataConfig(
        data_dir=tmp_path, cache_dir=tmp_path / "cache", allow_download=False, verify_sha256=False
    )


def _edit_line(number: int, **changes: object) -> list[str]:
    lines = list(RAW_LINES)
    record = json.loads(lines[number - 1])
    for key, value in changes.items():
        if value is None:
            del record[key]
        else:
            record[key] = value
    lines[number - 1] = json.dumps(record)
    return lines


@pytest.mark.parametrize(
    ("lines", "line", "field", "needle"),
    [
        (RAW_LINES[:40] + [RAW_LINES[40][:77]], 41, None, "invalid JSON"),
        (_edit_line(12, task_id="12"), 12, "task_id", "expected an integer, got a string"),
        (_edit_line(30, test_list=None), 30, "test_list", "missing"),
        (_edit_line(31, test_list=["assert x", 5]), 31, "test_list", "item 1: expected a string, got int"),
        (_edit_line(32, test_list=[]), 32, "test_list", "at least 1"),
        (_edit_line(7, text=7), 7, "text", "expected a string, got int"),
        (_edit_line(8, task_id=2000), 8, "task_id", "outside MBPP's task numbers 1..974"),
        (_edit_line(9, task_id=3), 9, "task_id", "duplicate task Mbpp/3 (first on line 3)"),
        (RAW_LINES[:5] + ["{not json"] + RAW_LINES[5:], 6, None, "invalid JSON"),
        (RAW_LINES[:5] + ["[1, 2]"] + RAW_LINES[5:], 6, None, "expected a JSON object, got a list"),
    ],
    ids=[
        "truncated",
        "wrong-type",
        "missing",
        "item-type",
        "empty",
        "text-type",
        "range",
        "dup",
        "bad-json",
        "array",
    ],
)
def test_malformed_full_file_gives_one_line_error(
    tmp_path: Path, lines: list[str], line: int, field: str | None, needle: str
) -> None:
    data = _data_dir_with(tmp_path, "mbpp.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        MBPP().load("test", data)
    text = str(info.value)
    assert "\n" not in text and needle in text
    where = f"{tmp_path / 'mbpp' / 'mbpp.jsonl'}:{line}: "
    assert text.startswith(where + (f"field '{field}': " if field else ""))


def test_malformed_sanitized_record_names_line_record_and_field(tmp_path: Path) -> None:
    records = json.loads((SHARED / "mbpp" / "sanitized-mbpp.json").read_text())
    records[5]["prompt"] = None
    path = tmp_path / "mbpp" / "sanitized-mbpp.json"
    data = _data_dir_with(tmp_path, "sanitized-mbpp.json", json.dumps(records))
    with pytest.raises(DataError) as info:
        SanitizedMBPP().load("test", data)
    assert str(info.value) == f"{path}:1: field 'prompt': record 5: expected a string, got null"


def test_wrong_schema_and_wrong_checksum(tmp_path: Path) -> None:
    sanitized_as_full = (SHARED / "mbpp" / "sanitized-mbpp.json").read_text()
    data = _data_dir_with(tmp_path, "mbpp.jsonl", sanitized_as_full)
    with pytest.raises(DataError, match=r"mbpp.jsonl:1: expected a JSON object, got a list"):
        MBPP().load("test", data)
    strict = DataConfig(data_dir=tmp_path, cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(ChecksumError, match=r"mbpp.jsonl: sha256 is [0-9a-f]{64}, expected ccf64cea"):
        MBPP().load("test", strict)


def test_unknown_split_is_a_usage_error() -> None:
    with pytest.raises(ProgsynthError, match="unknown mbpp split 'dev'; choose from prompt, test"):
        MBPP().load("dev", DATA)


def test_loading_is_fast_and_parsed_once_per_process() -> None:
    bench = MBPP()
    timings = []
    for _ in range(3):
        clear_parse_cache()
        start = time.perf_counter()
        problems = bench.load("all", DATA)
        timings.append(time.perf_counter() - start)
    assert len(problems) == 974
    assert min(timings) < 0.3, timings
    first = bench.all_problems(DATA)
    assert bench.all_problems(DATA) is first
