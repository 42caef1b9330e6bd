"""The dialog experiment's views: one turn on the terminal (what a person giving feedback reads),
the end-of-session summary, and the solved-by-turn plot (``solved_by_turn.png``), which
``progsynth report`` adds to its plots for any run directory that holds a ``dialog.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot loads

from progsynth.experiments.dialog.feedback import TurnView  # noqa: E402
from progsynth.experiments.dialog.results import DIALOG_FILE, DialogResults  # noqa: E402
from progsynth.experiments.dialog.transcript import Action  # noqa: E402
from progsynth.report.load import RunData  # noqa: E402
from progsynth.report.plots import Plot, save_figure  # noqa: E402
from progsynth.types import FinishReason  # noqa: E402
from progsynth.verdicts import Status  # noqa: E402

PLOT_NAME = "solved_by_turn"
_RULE = "-" * 72


def test_lines(view: TurnView) -> list[str]:
    """One line per test: passed, its failure, or not run (the executor stops at the first failure)."""
    ran = {t.index: t for t in view.verdict.tests}
    lines = []
    for index, test in enumerate(view.problem.tests):
        result = ran.get(index)
        if view.verdict.passed or (result is not None and result.status is Status.PASSED):
            mark = "PASS"
        elif result is not None or index == view.verdict.failed_test:
            mark = "FAIL"
        else:
            mark = "----"
        lines.append(f"  [{mark}] {test}")
    if not view.verdict.passed:
        what = ": ".join(x for x in (view.verdict.error_type or view.verdict.status.value, view.verdict.message) if x)
        lines.append(f"  -> {what[:300]}")
    if view.returned is not None:
        lines.append(f"  -> {view.returned.call[:100]} returned {view.returned.value[:300]}")
    return lines


def turn_text(view: TurnView) -> str:
    """The task (on turn 0), the turn's program and its test results."""
    parts = []
    if view.turn == 0:
        parts += [_RULE, f"{view.problem.task_id}: {view.problem.text}"]
    parts += [f"--- turn {view.turn} of at most {view.last_turn}: program ---", view.program.rstrip("\n")]
    if view.finish_reason is FinishReason.LENGTH:
        parts.append("(the model never wrote [DONE]: cut off at the token limit)")
    elif view.finish_reason is FinishReason.ERROR:
        parts.append("(the model could not generate: see raw in the transcript)")
    parts += ["--- tests ---", *test_lines(view)]
    verdict = "all tests pass" if view.verdict.passed else f"{view.verdict.status.value}"
    parts.append(f"=> {verdict}")
    return "\n".join(parts)


def summary_text(results: DialogResults, out_dir: Path) -> str:
    """The terminal summary: solved fraction after each turn (cumulative) with its interval."""
    lines = [f"dialog: {results.finished}/{results.tasks} task dialogs finished"
             + (" (stopped; run the same command again to resume)" if results.stopped else "")]
    for score in results.by_turn:
        est = score.fraction
        lines.append(f"  solved by turn {score.turn}: {score.solved}/{results.tasks} = {est.value:.1%} "
                     f"[95% CI {est.low:.1%}-{est.high:.1%}]")
    reduction = results.error_rate_reduction
    if reduction is not None:
        lines.append(f"  error rate reduced by {reduction:.1%} from turn 0 to turn {results.by_turn[-1].turn}")
    ended = ", ".join(f"{a.value} {n}" for a, n in results.actions.items() if n and a.ends_task)
    if ended:
        lines.append(f"  dialogs ended: {ended}")
    revisions = results.actions.get(Action.REVISE, 0)
    lines.append(f"  feedback given: {revisions}; transcript: {out_dir / 'transcript.jsonl'}")
    if results.revisions:
        lines.append(f"  revised programs: {results.revisions}, of which {results.repeats} repeat the previous "
                     "program character for character")
    return "\n".join(lines)


def plot_solved_by_turn(results: DialogResults, out_dir: Path, label: str = "") -> Plot:
    """Cumulative solved fraction against the turn, with 95% intervals (the paper's dialog figure)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    turns = [s.turn for s in results.by_turn]
    values = [100 * s.fraction.value for s in results.by_turn]
    errors = [[100 * (s.fraction.value - s.fraction.low) for s in results.by_turn],
              [100 * (s.fraction.high - s.fraction.value) for s in results.by_turn]]
    ax.errorbar(turns, values, yerr=errors, marker="o", capsize=4, label=label or None)
    ax.set_xticks(turns)
    ax.set_xlabel("dialog turn (0 = first program)")
    ax.set_ylabel("% of tasks solved by this turn")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if label:
        ax.legend()
    title = f"Tasks solved by dialog turn ({results.tasks} tasks, {results.config.get('dialog', {}).get('feedback')})"
    ax.set_title(title, fontsize=10)
    return save_figure(fig, out_dir, PLOT_NAME, title)


def read_dialog(run_dir: Path) -> DialogResults | None:
    """The dialog results of ``run_dir``, or None where there are none (an ordinary run)."""
    path = run_dir / DIALOG_FILE
    if not path.is_file():
        return None
    return DialogResults.from_json(json.loads(path.read_text(encoding="utf-8")), path)


def dialog_plots(runs: Sequence[RunData], plots_dir: Path) -> list[Plot]:
    """The solved-by-turn plot of every run that is a dialog directory (for ``progsynth report``)."""
    out = []
    for index, run in enumerate(runs):
        results = read_dialog(run.path)
        if results is not None:
            out.append(plot_solved_by_turn(results, plots_dir / f"dialog-{index}", run.label))
    return out
