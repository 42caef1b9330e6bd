"""``progsynth report`` (an HTML report with plots of one or more runs) and ``progsynth compare``
(two runs side by side with paired statistics, on the terminal)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from progsynth.cli.options import DATA_DIR, data_config
from progsynth.errors import UsageError
from progsynth.experiments.sweep.results import SUMMARY_FILE

RUN_DIRS = click.argument("run_dirs", nargs=-1, required=True,
                          type=click.Path(exists=True, file_okay=False, path_type=Path))
NO_DATA = click.option("--no-data", is_flag=True,
                       help="Do not read the benchmark data (no prompts, references or hard-coding check).")


def _labels(run_dirs: tuple[Path, ...]) -> list[str]:
    """Directory names, made unique with their parents when two runs share a name."""
    names = [p.resolve().name for p in run_dirs]
    return [f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(run_dirs, names, strict=True)]


def _load(kw: dict[str, Any]) -> list[Any]:
    from progsynth.report.load import load_run

    data = None if kw["no_data"] else data_config(kw)
    return [load_run(path, data, label) for path, label in zip(kw["run_dirs"], _labels(kw["run_dirs"]), strict=True)]


@click.command()
@RUN_DIRS
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="The HTML file; plots go to <name>_plots/ beside it.")
@DATA_DIR
@NO_DATA
def report(**kw: Any) -> None:
    """Write a self-contained HTML report (and PNG/SVG plots) of one or more run directories
    (dialog runs add their solved-by-turn plot), of exec-predict outputs, or of a sweep (its study
    view, DIR/study.html)."""
    from progsynth.report import exec_predict
    from progsynth.report.html import write_report

    if all(exec_predict.is_exec_predict_dir(p) for p in kw["run_dirs"]):  # progsynth exec-predict outputs
        click.echo(f"report: {exec_predict.write_report(kw['run_dirs'], kw['out'])}")
        return
    if len(kw["run_dirs"]) == 1 and (kw["run_dirs"][0] / SUMMARY_FILE).is_file():  # a progsynth sweep
        from progsynth.cli.sweep import write_study_report

        write_study_report(kw["run_dirs"][0])
        return
    start = time.perf_counter()
    runs = _load(kw)
    for run in runs:
        for note in run.notes:
            click.echo(f"progsynth: note: {run.label}: {note}", err=True)
    files = write_report(runs, kw["out"])
    size = files.html.stat().st_size / 1e6
    click.echo(f"report: {files.html} ({size:.1f} MB, {time.perf_counter() - start:.1f} s)")
    for plot in files.plots:
        click.echo(f"plot: {plot.png} {plot.svg}")


@click.command()
@click.argument("run_a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the paired bootstrap.")
def compare(run_a: Path, run_b: Path, seed: int) -> None:
    """Compare two runs: metric deltas with paired tests over tasks, and the tasks that flipped
    (two exec-predict directories: accuracy per condition over the asserts both predicted)."""
    from progsynth.report.compare import compare as compare_runs
    from progsynth.report.compare import comparison_text
    from progsynth.report.exec_compare import is_exec_predict_dir
    from progsynth.report.load import load_run

    labels = _labels((run_a, run_b))
    kinds = (is_exec_predict_dir(run_a), is_exec_predict_dir(run_b))
    if any(kinds):
        if not all(kinds):
            raise UsageError(f"{run_a if not kinds[0] else run_b} is not an exec-predict directory like the other")
        _compare_exec(run_a, run_b, labels, seed)
        return
    a, b = load_run(run_a, None, labels[0]), load_run(run_b, None, labels[1])
    result = compare_runs(a, b, seed=seed)
    if result.tasks == 0:
        raise UsageError(f"{run_a} and {run_b} have no task with samples in common")
    click.echo(comparison_text(result))


def _compare_exec(run_a: Path, run_b: Path, labels: list[str], seed: int) -> None:
    from progsynth.report.exec_compare import compare_exec, exec_comparison_text, load_scored

    deltas = compare_exec(load_scored(run_a), load_scored(run_b), seed=seed)
    if not deltas:
        raise UsageError(f"{run_a} and {run_b} have no assert predicted in the same condition")
    click.echo(exec_comparison_text(labels[0], labels[1], deltas))
