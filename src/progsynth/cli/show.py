"""Commands that look at things without running a model: a task's prompt, how a benchmark's data was
built, a finished run's summary, and the sandbox's self-check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import ALL_SPLIT
from progsynth.cli.options import DATA_DIR, PROMPT, benchmark_option, data_config, prompt_config, split_option
from progsynth.cli.run import print_summary
from progsynth.errors import DataError
from progsynth.store.results import Results


@click.command()
@benchmark_option()
@split_option()
@click.option("--task-id", required=True)
@PROMPT
@DATA_DIR
def prompt(**kw: Any) -> None:
    """Print the prompt a task gets (to check the format)."""
    bench = get_benchmark(kw["benchmark"])
    data = data_config(kw)
    split = kw["split"] or ALL_SPLIT
    wanted = bench.normalize_task_id(kw["task_id"])
    problem = next((p for p in bench.load(split, data) if p.task_id == wanted), None)
    if problem is None:
        raise DataError(kw["task_id"], f"no such task in {bench.name} split '{split}'")
    click.echo(bench.prompt(problem, prompt_config(kw), data), nl=False)


@click.command("data-stats")
@benchmark_option("mathqa-python")
@split_option(ALL_SPLIT)
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def data_stats(**kw: Any) -> None:
    """How a benchmark's data was built (MathQA-Python: kept problems, DSL accuracy, drop reasons)."""
    rows = get_benchmark(kw["benchmark"]).dataset_stats(kw["split"], data_config(kw))
    if kw["as_json"]:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo("  ".join(f"{k}={v}" for k, v in row.items() if not isinstance(v, dict)))
        for k, v in row.items():
            if isinstance(v, dict):
                click.echo(f"  {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def summary(run_dir: Path) -> None:
    """Print the summary of a finished run directory."""
    path = run_dir / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot read results ({exc})") from None
    print_summary(Results.from_json(data, path), path)


@click.command("sandbox-check")
def sandbox_check() -> None:
    """Show which sandbox protections are active on this host and run a short self-test."""
    from progsynth.execution.sandbox.selfcheck import run_selfcheck

    text, ok = run_selfcheck()
    click.echo(text)
    if not ok:
        sys.exit(1)
