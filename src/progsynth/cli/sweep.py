"""``progsynth sweep CONFIG``: a scaling or sensitivity study as one resumable command.

The file is checked before anything runs; the cost is printed before the first cell starts; every
cell is an ordinary run directory under ``DIR/cells``; ``--report`` renders the study view
(``DIR/study.html``) from ``DIR/sweep.json``, after running or, with ``--report-only``, instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from progsynth.cli.options import DATA_DIR, OFFLINE, data_config
from progsynth.errors import ProgsynthError


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sweep directory (default: sweeps/<config name>): sweep.json and cells/<cell>/.")
@click.option("--dry-run", is_flag=True, help="List the cells and the estimated cost; run nothing.")
@click.option("--report", "with_report", is_flag=True, help="Write DIR/study.html after running.")
@click.option("--report-only", is_flag=True, help="Write DIR/study.html from what is done; run nothing.")
@DATA_DIR
@OFFLINE
@click.option("--quiet", "-q", is_flag=True, help="No per-cell progress line.")
def sweep(**kw: Any) -> None:
    """Run a grid of runs (models, prompt sets, asserts shown, protocols...) from a TOML/YAML file."""
    from progsynth.experiments.sweep.config import load_sweep
    from progsynth.experiments.sweep.runner import prepare

    config = load_sweep(kw["config"])
    out_dir: Path = kw["out_dir"] or Path("sweeps") / config.name
    if kw["report_only"]:
        write_study_report(out_dir)
        return
    runner, planned = prepare(config, out_dir, data=data_config(kw), show_progress=not kw["quiet"])
    click.echo(runner.cost(planned).text(), err=True)
    if kw["dry_run"]:
        for p in planned:
            click.echo(f"{'done   ' if p.done else 'pending'} {p.cell.name}  ({len(p.run.problems)} tasks)")
        return
    summary = runner.run(planned)
    click.echo(f"sweep: {out_dir / 'sweep.json'}")
    if kw["with_report"]:
        write_study_report(out_dir)
    failed = [c for c in summary.cells if c.error]
    if failed:
        raise ProgsynthError(f"{len(failed)} cell(s) failed (first: {failed[0].name}: {failed[0].error}); "
                             "run the same command again to retry them")


def write_study_report(out_dir: Path) -> None:
    """The study view of a sweep directory (also what ``progsynth report SWEEP_DIR`` writes)."""
    from progsynth.experiments.sweep.results import read_summary
    from progsynth.report.study import write_study

    files = write_study(read_summary(out_dir), out_dir)
    click.echo(f"report: {files.html}")
    for plot in files.plots:
        click.echo(f"plot: {plot.png} {plot.svg}")
