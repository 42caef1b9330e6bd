"""The MathQA-Python benchmark: the paper's split sizes, task ids, tests, prompts and statistics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle, UnknownTaskError
from progsynth.benchmarks.mathqa import MathQAPython, answer_test
from progsynth.benchmarks.mathqa.convert import ConversionRules, DropReason
from progsynth.benchmarks.mathqa.data import Split, convert_file, load_split
from progsynth.benchmarks.mathqa.stats import format_stats, main, split_stats
from progsynth.errors import UsageError

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DataConfig(data_dir=SHARED, allow_download=False)

# Executes (program, test) pairs in a real interpreter, each pair in a fresh namespace, and prints
# the indices whose test did not pass.
CHECKER = """
import json, sys
failed = []
for i, (program, test) in enumerate(json.load(sys.stdin)):
    ns = {}
    try:
        exec(program, ns)
        exec(test, ns)
    except BaseException as exc:
        failed.append([i, type(exc).__name__])
print(json.dumps(failed))
"""


def failing(pairs: list[tuple[str, str]]) -> list[list[object]]:
    proc = subprocess.run(
        [sys.executable, "-c", CHECKER],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: list[list[object]] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def bench() -> MathQAPython:
    b = get_benchmark("mathqa-python")
    assert isinstance(b, MathQAPython)
    return b


def test_paper_split_sizes(bench: MathQAPython) -> None:
    """The issue's acceptance figures: 2,822 validation (dev), 1,883 test, 403 challenge."""
    sizes = {s: len(bench.load(s, DATA)) for s in ("validation", "test", "challenge")}
    assert sizes == {"validation": 2822, "test": 1883, "challenge": 403}
    assert len(bench.load("all", DATA)) == 2822 + 1883 + 403  # train.json is absent here


def test_full_operation_table_keeps_a_few_more() -> None:
    """The paper's conversion lacked ``min`` and ``surface_cylinder``; implementing them keeps
    2 + 4 + 2 more problems, which is why they are dropped by default."""
    full = ConversionRules(paper_ops_only=False)
    sizes = [
        len(convert_file(SHARED / "mathqa" / f, full).items)
        for f in ("dev.json", "test.json", "challenge_test.json")
    ]
    assert sizes == [2824, 1887, 405]


def test_problem_fields(bench: MathQAPython) -> None:
    problems = bench.load("test", DATA)
    assert [p.task_id for p in problems[:2]] == ["MathQA-Python/test/0", "MathQA-Python/test/1"]
    assert problems[-1].task_id == "MathQA-Python/test/1882"
    p = problems[0]
    assert p.benchmark == "mathqa-python" and p.split == "test"
    assert p.text.startswith("# a shopkeeper sold an article") and p.text.endswith(" n0 = 5.0 n1 = 31.1")
    assert p.reference.splitlines()[-1] == "answer = t3 - 100.0"
    assert p.tests == (answer_test(p.extra["gold"], 0.01),)
    assert set(p.extra) == {"gold", "answer", "dsl_code", "category", "reasoning", "source_index", "rel_tol"}
    assert p.extra["category"] == "gain" and p.extra["dsl_code"].startswith("add(n1,const_100)")


def test_every_reference_program_passes_its_test(bench: MathQAPython) -> None:
    problems = [p for s in ("validation", "test", "challenge") for p in bench.load(s, DATA)]
    assert failing([(bench.program(p, p.reference_completion), p.tests[0]) for p in problems]) == []


def test_answer_test_semantics() -> None:
    test = answer_test(12.5, 0.01)
    assert test == "assert abs(answer - 12.5) <= 0.01 * max(abs(answer), abs(12.5)) and abs(answer) < 1e308"
    programs = [
        "answer = 12.5",
        "answer = 12.4",
        "answer = 12.6",
        "answer = 12.3",
        "answer = -12.5",
        "answer = float('inf')",
        "answer = float('nan')",
        "answer = '12.5'",
        "x = 12.5",
        "answer = 25 / 2",
    ]
    fails = {int(str(i)): name for i, name in failing([(prog, test) for prog in programs])}
    assert fails == {
        3: "AssertionError",
        4: "AssertionError",
        5: "AssertionError",
        6: "AssertionError",
        7: "TypeError",
        8: "NameError",
    }


def test_tolerance_is_configurable(bench: MathQAPython) -> None:
    strict = MathQAPython(rel_tol=0.0001)
    p = strict.load("validation", DATA)[5]
    assert p.extra["rel_tol"] == 0.0001 and "0.0001 * max(" in p.tests[0]
    near = f"answer = {p.extra['gold'] * 1.005!r}"
    assert failing([(near, p.tests[0]), (near, bench.load("validation", DATA)[5].tests[0])]) == [
        [0, "AssertionError"]
    ]
    with pytest.raises(UsageError, match=r"--answer-tol \(mathqa-python benchmark\) must be < 1, got 1.5"):
        MathQAPython(rel_tol=1.5)


def test_unknown_split(bench: MathQAPython) -> None:
    with pytest.raises(UsageError, match="no split 'dev'"):
        bench.load("dev", DATA)


def test_task_ids(bench: MathQAPython) -> None:
    assert bench.normalize_task_id(" mathqa-python/Test/17 ") == "MathQA-Python/test/17"
    for bad in ("MathQA-Python/dev/1", "17", 17, "MathQA-Python/test/x", None):
        with pytest.raises(UnknownTaskError):
            bench.normalize_task_id(bad)


# --- prompts ---------------------------------------------------------------------------------------


def _shots_in(prompt: str) -> list[str]:
    return [block.split("\n", 1)[0] for block in prompt.split("here is your task: ")[1:]]


def test_paper_prompt_shape(bench: MathQAPython) -> None:
    p = bench.load("test", DATA)[10]
    prompt = bench.prompt(p, PromptConfig(shots=3), DATA)
    assert prompt.startswith("You are an expert Python programmer, and here is your task: # ")
    assert prompt.endswith("here is your task: " + p.text + "\n[BEGIN]\n")
    assert prompt.count("[BEGIN]") == 4 and prompt.count("[DONE]") == 3
    assert "assert" not in prompt and "should pass these tests" not in prompt
    validation = bench.load("validation", DATA)
    assert _shots_in(prompt)[:3] == [q.text for q in validation[:3]]
    assert "\n\n[DONE]" not in prompt and "answer = " in prompt


def test_shots_never_come_from_the_evaluated_split(bench: MathQAPython) -> None:
    test_texts = {q.text for q in bench.load("test", DATA)}
    for split in ("validation", "test", "challenge"):
        p = bench.load(split, DATA)[0]
        own = {q.text for q in bench.load(split, DATA)}
        shots = _shots_in(bench.prompt(p, PromptConfig(shots=4), DATA))[:-1]
        assert len(shots) == 4 and not own & set(shots), split
        if split == "challenge":  # the challenge set repeats test problems: test shots are excluded too
            assert not test_texts & set(shots)


def test_zero_shot_and_explicit_shots(bench: MathQAPython) -> None:
    p = bench.load("test", DATA)[0]
    assert bench.prompt(p, PromptConfig(shots=0), DATA) == (
        "You are an expert Python programmer, and here is your task: " + p.text + "\n[BEGIN]\n"
    )
    chosen = PromptConfig(shot_ids=("MathQA-Python/validation/7", "MathQA-Python/validation/2"))
    val = bench.load("validation", DATA)
    assert _shots_in(bench.prompt(p, chosen, DATA))[:2] == [val[7].text, val[2].text]
    challenge = PromptConfig(shot_ids=("MathQA-Python/challenge/2",))
    ch = bench.load("challenge", DATA)[2]
    assert _shots_in(bench.prompt(val[0], challenge, DATA))[0] == ch.text
    with pytest.raises(UsageError, match="repeats a problem of the evaluated split 'test'"):
        bench.prompt(p, challenge, DATA)  # the challenge set's problems are test problems
    with pytest.raises(UsageError, match="from the evaluated split 'test'"):
        bench.prompt(p, PromptConfig(shot_ids=("MathQA-Python/test/3",)), DATA)
    with pytest.raises(UsageError, match="does not exist"):
        bench.prompt(p, PromptConfig(shot_ids=("MathQA-Python/validation/99999",)), DATA)
    with pytest.raises(UsageError, match="--shot-ids"):
        bench.prompt(p, PromptConfig(shot_ids=("2",)), DATA)


def test_chat_prompt(bench: MathQAPython) -> None:
    p = bench.load("validation", DATA)[0]
    prompt = bench.prompt(p, PromptConfig(shots=1, style=PromptStyle.CHAT), DATA)
    assert prompt.count("variable named `answer`") == 2 and "[BEGIN]" not in prompt
    assert p.text.removeprefix("# ") + "\n" in prompt and "# " + p.text not in prompt
    assert prompt.count("```python") == 2 and "answer = " in prompt  # the example's code and the request
    assert bench.stop_sequences(PromptConfig(style=PromptStyle.CHAT)) == ()


def test_extract(bench: MathQAPython) -> None:
    p = bench.load("validation", DATA)[0]
    raw = "n0 = 4.0\r\nanswer = n0 * 2\n[DONE]\nYou are an expert"
    assert bench.extract(p, raw) == "n0 = 4.0\nanswer = n0 * 2\n"
    assert bench.extract(p, "```python\nanswer = 3\n```\nDone.") == "answer = 3\n"


def test_train_split_and_shot_pool(tmp_path: Path) -> None:
    """With a train.json in the data dir, shots come from train (and train itself uses validation)."""
    data_dir = tmp_path / "data" / "mathqa"
    data_dir.mkdir(parents=True)
    for name in ("dev.json", "test.json", "challenge_test.json"):
        (data_dir / name).symlink_to(SHARED / "mathqa" / name)
    records = json.loads((SHARED / "mathqa" / "dev.json").read_text(encoding="utf-8"))[:60]
    for r in records:  # distinct texts, same numbers and formulas
        r["Problem"] = "( train copy ) " + r["Problem"]
    (data_dir / "train.json").write_text(json.dumps(records, indent=4), encoding="utf-8")
    data = DataConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)
    bench = MathQAPython()
    train = bench.load("train", data)
    assert [p.task_id for p in train[:2]] == ["MathQA-Python/train/0", "MathQA-Python/train/1"]
    assert len(train) == len([p for p in bench.load("validation", data) if p.extra["source_index"] < 60])
    assert len(bench.load("all", data)) == len(train) + 2822 + 1883 + 403
    assert bench.shot_source("test", data) is Split.TRAIN and bench.shot_source("train", data) is Split.VALIDATION
    assert bench.shot_pool("test", data) == tuple(p.task_id for p in train)
    assert bench.shot_pool("train", data)[:2] == ("MathQA-Python/validation/0", "MathQA-Python/validation/1")
    for split in ("validation", "test", "challenge"):
        prompt = bench.prompt(bench.load(split, data)[0], PromptConfig(shots=2), data)
        assert _shots_in(prompt)[:2] == [q.text for q in train[:2]]
    prompt = bench.prompt(train[0], PromptConfig(shots=2), data)
    assert _shots_in(prompt)[:2] == [q.text for q in bench.load("validation", data)[:2]]


def test_too_few_distinct_shots_is_an_error(tmp_path: Path) -> None:
    """A train file repeating the evaluated split's problems cannot give it shots."""
    data_dir = tmp_path / "data" / "mathqa"
    data_dir.mkdir(parents=True)
    for name in ("dev.json", "test.json"):
        (data_dir / name).symlink_to(SHARED / "mathqa" / name)
    (data_dir / "train.json").symlink_to(SHARED / "mathqa" / "test.json")
    data = DataConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)
    bench = MathQAPython()
    with pytest.raises(UsageError, match="only 0 train problems can be shots for 'test'"):
        bench.prompt(bench.load("test", data)[0], PromptConfig(shots=2), data)


# --- statistics and speed --------------------------------------------------------------------------


def test_dsl_statistics() -> None:
    stats = split_stats(Split.VALIDATION, DATA)
    assert (stats.records, stats.kept, stats.dsl_correct) == (4475, 2822, 2824)
    assert sum(stats.dropped.values()) == stats.records - stats.kept
    assert stats.dropped[DropReason.MISMATCH] > stats.dropped[DropReason.NO_GOLD] > 0
    assert sum(k for k, _ in stats.categories.values()) == stats.kept
    text = format_stats([stats])
    assert "kept                     2822  (paper: 2822)" in text and "unsupported_operation" in text
    assert stats.to_json()["dropped"]["unsupported_operation"] == 2


def test_dataset_stats_hook(bench: MathQAPython) -> None:
    (test,) = bench.dataset_stats("test", DATA)
    assert (test["split"], test["records"], test["kept"], test["dsl_correct"]) == ("test", 2985, 1883, 1887)
    assert [s["split"] for s in bench.dataset_stats("all", DATA)] == ["validation", "test", "challenge"]


def test_stats_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["--split", "challenge", "--json", "--data-dir", str(SHARED)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["kept"] == report["paper_kept"] == 403
    monkeypatch.setenv("PROGSYNTH_OFFLINE", "1")
    assert main(["--split", "train", "--data-dir", str(SHARED)]) == 3
    assert "mathqa/train.json: data file not found" in capsys.readouterr().err


def test_conversion_is_fast_and_cached() -> None:
    started = time.perf_counter()
    for name in ("dev.json", "test.json"):
        convert_file(SHARED / "mathqa" / name, ConversionRules(rel_tol=0.0123))  # an uncached key
    first = time.perf_counter() - started
    started = time.perf_counter()
    load_split(Split.TEST, DATA, ConversionRules(rel_tol=0.0123))
    assert time.perf_counter() - started < 0.2
    assert first < 15.0  # about 1.3 s here on a loaded 2-core machine
