"""``progsynth dialog`` in batch modes (automatic and scripted feedback), its errors and its pieces:
the real CLI in a fresh interpreter, the real data and the real sandboxed executor; the model is the
mock backend, with turn 0 taken from a run directory (``--from-run``) so that it can fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from progsynth.backends.mock import WRONG_PROGRAM, MockBackend
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.errors import DataError
from progsynth.experiments.dialog.config import DialogConfig
from progsynth.experiments.dialog.feedback import FeedbackMode
from progsynth.experiments.dialog.format import DialogFormat, Exchange, dialog_prompt, load_format
from progsynth.experiments.dialog.session import DialogSession
from progsynth.experiments.dialog.transcript import Action
from progsynth.run.config import RunConfig
from progsynth.types import Completion, FinishReason

WRONG = "def nothing():\n    return 0\n"
TASKS = ("Mbpp/11", "Mbpp/12", "Mbpp/13")


def progsynth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "progsynth", *args], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)


def from_run(tmp_path: Path, completions: dict[str, str]) -> Path:
    """A run directory whose sample 0 of each task is ``completions[task]`` (turn 0 of the dialog)."""
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    rows = [{"task_id": t, "completion": c, "sample_idx": 0} for t, c in completions.items()]
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def reference(task: str) -> str:
    path = Path(os.environ["PROGSYNTH_DATA_DIR"]) / "mbpp" / "mbpp.jsonl"
    number = int(task.split("/")[1])
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["task_id"] == number:
            return record["code"].replace("\r\n", "\n")
    raise KeyError(task)


def transcript(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "transcript.jsonl").read_text().splitlines()]


def dialog(out: Path, run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return progsynth("dialog", "-b", "mbpp", "-s", "test", "--limit", "3", "--backend", "mock", "--from-run",
                     str(run), "--turns", "2", "--out", str(out), *extra)


def test_auto_feedback_reports_the_solved_fraction_after_each_turn_and_resumes_without_duplicates(
        tmp_path: Path) -> None:
    # turn 0: 12 passes (from the run); the mock's sample 1 is wrong and its sample 2 the reference
    run = from_run(tmp_path, {"Mbpp/11": WRONG, "Mbpp/12": reference("Mbpp/12"), "Mbpp/13": WRONG})
    out = tmp_path / "dialog"
    proc = dialog(out, run, "--feedback", "auto")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "dialog.json").read_text())
    assert doc["schema"] == "progsynth.dialog/1" and doc["tasks"] == 3 and doc["finished"] == 3
    assert [t["solved"] for t in doc["by_turn"]] == [1, 1, 3]
    assert doc["by_turn"][0]["value"] == pytest.approx(1 / 3, abs=1e-6) and len(doc["by_turn"][0]["ci95"]) == 2
    assert doc["error_rate_reduction"] == 1.0
    assert doc["actions"]["revise"] == 4 and doc["actions"]["solved"] == 3
    assert (doc["revisions"], doc["repeats"]) == (4, 0)  # turn 1 is the mock's wrong program, turn 2 the reference
    lines = transcript(out)
    assert [(x["task_id"], x["turn"], x["action"]) for x in lines] == [
        ("Mbpp/11", 0, "revise"), ("Mbpp/12", 0, "solved"), ("Mbpp/13", 0, "revise"),
        ("Mbpp/11", 1, "revise"), ("Mbpp/13", 1, "revise"), ("Mbpp/11", 2, "solved"), ("Mbpp/13", 2, "solved")]
    first = lines[0]["feedback"]
    assert "assert remove_Occ(" in first and "NameError" in first and len(first) <= 400
    assert "solved by turn 2: 3/3 = 100.0%" in proc.stdout and (out / "solved_by_turn.png").stat().st_size > 0
    assert json.loads((out / "results.json").read_text())["metrics"]["solved_any"]["value"] == 1.0
    again = dialog(out, run, "--feedback", "auto")  # the same command: nothing left to do, nothing repeated
    assert again.returncode == 0, again.stderr
    assert transcript(out) == lines
    report = progsynth("report", str(out), "--out", str(tmp_path / "report.html"))  # the HTML report shows it
    assert report.returncode == 0, report.stderr
    assert "solved_by_turn.png" in report.stdout and "Tasks solved by dialog turn" in (
        tmp_path / "report.html").read_text()


def test_auto_feedback_on_a_failed_assert_says_what_the_call_returned(tmp_path: Path) -> None:
    """The value comes from running the model's program in the sandbox, not from the assert's text."""
    wrong = {"Mbpp/11": "def remove_Occ(s, ch):\n    return s.upper()\n",
             "Mbpp/12": "def sort_matrix(m):\n    return [[len(m)] * 2]\n",
             "Mbpp/13": "def count_common(words):\n    raise ValueError('no')\n"}
    out = tmp_path / "dialog"
    proc = dialog(out, from_run(tmp_path, wrong), "--feedback", "auto", "--turns", "1")
    assert proc.returncode == 0, proc.stderr
    first = {x["task_id"]: x["feedback"] for x in transcript(out) if x["turn"] == 0}
    assert first["Mbpp/11"].startswith('The code fails `assert remove_Occ("hello","l") == "heo"`.')
    assert "`remove_Occ('hello', 'l')` returned `'HELLO'`." in first["Mbpp/11"]
    assert "returned `[[3, 3]]`." in first["Mbpp/12"]
    assert "returned" not in first["Mbpp/13"] and "ValueError" in first["Mbpp/13"]  # raised: no value


def test_revisions_that_repeat_the_previous_program_are_counted(tmp_path: Path) -> None:
    out = tmp_path / "dialog"
    run = from_run(tmp_path, {t: WRONG_PROGRAM for t in TASKS})  # turn 1 (the mock's odd sample) repeats it
    proc = dialog(out, run, "--feedback", "auto", "--turns", "1")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "dialog.json").read_text())
    assert (doc["revisions"], doc["repeats"]) == (3, 3)
    assert "revised programs: 3, of which 3 repeat the previous program" in proc.stdout


def test_a_model_that_never_writes_done_is_recorded_as_a_failure(tmp_path: Path) -> None:
    endless = Completion("def remove_Occ(s, ch):\n    return (" * 40, FinishReason.LENGTH, 512)
    backend = MockBackend(script=lambda request, idx: endless)
    run_cfg = RunConfig(out_dir=tmp_path / "d", benchmark="mbpp", split="test", limit=1, backend="mock",
                        data=data_config_from_env(None))
    out = DialogSession(DialogConfig(run_cfg, turns=1, feedback=FeedbackMode.AUTO)).run(backend)
    lines = transcript(out.out_dir)
    assert [(x["turn"], x["action"], x["passed"], x["finish_reason"]) for x in lines] == [
        (0, "revise", False, "length"), (1, "out_of_turns", False, "length")]
    assert lines[0]["verdict"]["status"] == "syntax_error"
    assert lines[0]["feedback"].startswith("The code was cut off at the token limit before [DONE].")
    assert [t.solved for t in out.results.by_turn] == [0, 0] and out.results.finished == 1
    # the revision's prompt is the task's prompt, the first program, its feedback and a new [BEGIN]
    assert "[DONE]\nFeedback: The code was cut off" in backend.calls[1].prompt
    assert backend.calls[1].prompt.endswith(")).\n[BEGIN]\n") and len(backend.calls) == 2


def test_a_feedback_file_is_replayed_exactly_and_a_transcript_replays_itself(tmp_path: Path) -> None:
    run = from_run(tmp_path, dict.fromkeys(TASKS, WRONG))
    script = tmp_path / "feedback.jsonl"
    rows = [{"task_id": "Mbpp/11", "turn": 0, "feedback": "Name the function remove_Occ."},
            {"task_id": 11, "turn": 1, "feedback": "Still wrong: remove_Occ is missing."},
            {"task_id": "mbpp/12", "turn": 0, "feedback": "/skip"},
            {"task_id": "Mbpp/13", "turn": 0, "feedback": ""}]
    script.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "dialog"
    proc = dialog(out, run, "--feedback", str(script), "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = transcript(out)
    assert [(x["task_id"], x["turn"], x["action"], x["feedback"]) for x in lines] == [
        ("Mbpp/11", 0, "revise", "Name the function remove_Occ."), ("Mbpp/12", 0, "skip", None),
        ("Mbpp/13", 0, "accept", None), ("Mbpp/11", 1, "revise", "Still wrong: remove_Occ is missing."),
        ("Mbpp/11", 2, "solved", None)]
    replay = tmp_path / "replay"
    proc = dialog(replay, run, "--feedback", str(out / "transcript.jsonl"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    keys = ("task_id", "turn", "action", "feedback", "prompt_hash", "program")
    assert [[x[k] for k in keys] for x in transcript(replay)] == [[x[k] for k in keys] for x in lines]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    proc = dialog(out, run, "--feedback", str(empty), "--quiet", "--fresh")  # --fresh: the old turns are gone
    assert proc.returncode == 0, proc.stderr
    assert [(x["turn"], x["action"]) for x in transcript(out)] == [(0, "no_feedback")] * 3


@pytest.mark.parametrize(("line", "where"), [
    ('{"task_id": "Mbpp/11", "turn": -1, "feedback": "x"}', ":2: field 'turn': expected a non-negative integer"),
    ('{"task_id": "Mbpp/99999", "turn": 0, "feedback": "x"}', ":2: field 'task_id': unknown mbpp task id"),
    ('{"task_id": "Mbpp/5", "turn": 0, "feedback": "x"}', ":2: field 'task_id': task Mbpp/5 is not in split 'test'"),
    ('{"task_id": "Mbpp/11", "turn": 0, "feedback": 3}', ":2: field 'feedback': expected text or null"),
    ('{"task_id": "Mbpp/11", "turn": 0}', ":2: field 'feedback': missing"),
    ('{"task_id": "Mbpp/11", "turn": 0, "feedback": "/frobnicate"}', ":2: field 'feedback': unknown command"),
    ('{"task_id": "Mbpp/12", "turn": 0, "feedback": "again"}', ":2: field 'turn': a second reply for Mbpp/12 turn 0"),
    ('{"task_id": "Mbpp/11", "turn": 0, "feedback": "x"', ":2: invalid JSON"),
])
def test_a_malformed_feedback_file_is_one_line_naming_file_line_and_field(tmp_path: Path, line: str,
                                                                          where: str) -> None:
    script = tmp_path / "feedback.jsonl"
    script.write_text('{"task_id": "Mbpp/12", "turn": 0, "feedback": "fine"}\n' + line + "\n")
    proc = progsynth("dialog", "--limit", "2", "--backend", "mock", "--feedback", str(script),
                     "--out", str(tmp_path / "d"))
    assert proc.returncode == 3
    assert proc.stderr.strip() == f"progsynth: error: {script}{where}" or (
        proc.stderr.count("\n") == 1 and f"{script}{where}" in proc.stderr), proc.stderr


@pytest.mark.parametrize(("task", "message"), [
    ("99999", "progsynth: error: --task-id: unknown mbpp task id '99999'"),
    ("Mbpp/5", "progsynth: error: task ids not in split 'test': Mbpp/5"),
])
def test_an_unknown_task_id_is_a_one_line_usage_error(tmp_path: Path, task: str, message: str) -> None:
    proc = progsynth("dialog", "--task-id", task, "--backend", "mock", "--feedback", "auto",
                     "--out", str(tmp_path / "d"))
    assert proc.returncode == 2 and proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr


def test_the_dialog_prompt_format_is_documented_and_overridable(tmp_path: Path) -> None:
    history = [Exchange("def f():\n    return 1\n", "return 2")]
    assert dialog_prompt("P[BEGIN]\n", history, DialogFormat()) == (
        "P[BEGIN]\ndef f():\n    return 1\n[DONE]\nFeedback: return 2\n[BEGIN]\n")
    assert dialog_prompt("P[BEGIN]\n", [], DialogFormat()) == "P[BEGIN]\n"
    template = tmp_path / "t.json"
    template.write_text(json.dumps({"feedback": "Human: {feedback}\n"}))
    fmt = load_format(template, DialogFormat())
    assert fmt.feedback == "Human: {feedback}\n" and fmt.attempt == DialogFormat().attempt
    template.write_text(json.dumps({"feedback": "no placeholder"}))
    with pytest.raises(DataError, match="must contain {feedback}"):
        load_format(template, DialogFormat())
    template.write_text(json.dumps({"prefix": "x"}))
    with pytest.raises(DataError, match="field 'prefix': unknown template"):
        load_format(template, DialogFormat())


def test_stopping_without_a_terminal_is_refused_before_any_work(tmp_path: Path) -> None:
    run_cfg = RunConfig(out_dir=tmp_path / "d", benchmark="mbpp", split="test", limit=1, backend="mock",
                        data=data_config_from_env(None))
    with pytest.raises(Exception, match="interactive feedback needs a terminal"):
        DialogSession(DialogConfig(run_cfg))
    assert Action.STOP.ends_task and not Action.REVISE.ends_task
