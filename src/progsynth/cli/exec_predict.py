"""``progsynth exec-predict``: options checked here, once, into a frozen ExecPredictConfig.

The selection and execution options are ``progsynth run``'s; the model options too (``--backend``,
``--model``, the flags backends declare, ``-O``), and ``--adapter DIR`` evaluates a ``progsynth
finetune`` output (e.g. one trained with ``--target exec-predict``) on its base through llama.cpp.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from progsynth.cli.model import MODEL, model_choice
from progsynth.cli.options import (
    BENCHMARK_FLAGS,
    SELECTION,
    data_config,
    stack,
)
from progsynth.execution.api import Limits
from progsynth.experiments.exec_predict.prompts import FEW_SHOTS, Condition, parse_conditions
from progsynth.run.config import RunConfig, paper_sampling

if TYPE_CHECKING:
    from progsynth.experiments.exec_predict.pipeline import ExecPredictConfig

OPTIONS = stack(
    SELECTION,
    click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                 help="Output folder (facts, predictions, results); rerun to resume."),
    click.option("--condition", "conditions", multiple=True, type=click.Choice([c.value for c in Condition]),
                 help="What the model sees besides the call (repeatable; default: every condition)."),
    click.option("--shots", type=click.IntRange(1, 10), default=FEW_SHOTS, show_default=True,
                 help="Worked prompt-pool examples in few-shot prompts."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                 help="CPU seconds per reference run (computing the facts)."),
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Executor workers (default: all cores)."),
    BENCHMARK_FLAGS.decorators(),
    click.option("--fresh", is_flag=True, help="Discard the output folder's files and start over."),
    click.option("--quiet", "-q", is_flag=True, help="No progress line."),
)

MAX_TOKENS = click.option("--max-tokens", type=click.IntRange(min=1), default=128, show_default=True,
                          help="Longest answer in tokens (the answer is one line).")


def build_config(kw: dict[str, Any]) -> ExecPredictConfig:
    """The frozen configuration from the parsed options (every check happens here or in the dataclasses)."""
    from progsynth.experiments.exec_predict.pipeline import ExecPredictConfig

    model = model_choice(kw, chat=False, shots=None)  # a tuned model is checked against its own format
    run = RunConfig(
        out_dir=kw["out_dir"], benchmark=kw["benchmark"],
        benchmark_options=BENCHMARK_FLAGS.values_for(kw["benchmark"], kw), split=kw["split"], limit=kw["limit"],
        task_ids=tuple(kw["task_ids"]), backend=model.backend, backend_options=model.options,
        sampling=paper_sampling(1, max_tokens=kw["max_tokens"], seed=kw["seed"]),
        limits=Limits(timeout_s=kw["timeout"]), workers=kw["workers"], data=data_config(kw),
        model_provenance=model.provenance, fresh=kw["fresh"])
    return ExecPredictConfig(run, parse_conditions(kw["conditions"]), kw["shots"])


@click.command("exec-predict")
@OPTIONS
@MAX_TOKENS
@MODEL
def exec_predict(**kw: Any) -> None:
    """Predict what programs return (the paper's execution-prediction experiment; resumable)."""
    cfg = build_config(kw)
    from progsynth.experiments.exec_predict.pipeline import exec_predict as run_exec_predict
    from progsynth.report.exec_predict import summary_lines, write_html, write_plot

    out = run_exec_predict(cfg, show_progress=not kw["quiet"])
    click.echo("\n".join(summary_lines(out.document)))
    page = write_html(out.document, out.out_dir, write_plot(out.document, out.out_dir))
    click.echo(f"report: {page}")
    click.echo(f"results: {out.results_path}")
