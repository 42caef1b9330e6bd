"""``progsynth finetune``: options checked here, once, into a frozen FinetuneConfig.

Training reads the same benchmark, split and prompt options as ``progsynth run`` (the examples are
the evaluation's own prompts), plus the training schedule. ``--evaluate SPLIT`` then scores the base
and the tuned model side by side through llama.cpp, each in an ordinary run directory.
``--target exec-predict`` trains on execution facts instead (the prompt of ``progsynth exec-predict``
in ``--exec-condition``, the real output as the completion) and ``--evaluate`` then runs that
experiment for the base and the tuned model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from progsynth.benchmarks.base import PromptConfig
from progsynth.cli.options import (
    BENCHMARK_FLAGS,
    DATA_DIR,
    OFFLINE,
    TASK_ID,
    benchmark_option,
    data_config,
    prompt_config,
    stack,
)
from progsynth.experiments.exec_predict.prompts import Condition
from progsynth.experiments.finetune.config import DEFAULT_SHOTS, ExecPredictPrompt, FinetuneConfig, Method, Target

TRAINING = stack(
    click.option("--base", default=None,
                 help="Model to tune: a transformers checkpoint folder, a .gguf file or a model alias "
                      "(default: the embedded model, dequantized once and cached)."),
    click.option("--full", is_flag=True, help="Train every weight instead of a LoRA adapter (no GGUF adapter)."),
    click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True),
    click.option("--max-steps", type=click.IntRange(min=1), default=None,
                 help="Stop after N optimiser steps (the schedule decays over them)."),
    click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
                 help="Examples per optimiser step."),
    click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Peak learning rate (default: 2e-4 for LoRA, 2e-5 with --full)."),
    click.option("--rank", type=click.IntRange(min=1), default=16, show_default=True, help="LoRA rank."),
    click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="LoRA alpha (default: twice the rank)."),
    click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True),
    click.option("--warmup", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True,
                 help="Fraction of the steps spent warming up the learning rate."),
    click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True),
    click.option("--max-len", type=click.IntRange(min=16), default=1024, show_default=True,
                 help="Longest example in tokens (longer targets are cut)."),
    click.option("--seed", type=int, default=1234, show_default=True),
    click.option("--dtype", type=click.Choice(["auto", "bfloat16", "float16", "float32"]), default="auto",
                 show_default=True, help="auto: bfloat16 where the CPU or GPU computes it natively."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1..."),
    click.option("--prefix-cache/--no-prefix-cache", default=True, show_default=True,
                 help="Few-shot prompts: compute the shared shots once per step (no gradient through them)."),
    click.option("--eval-every", type=click.IntRange(min=1), default=None,
                 help="Validation every N steps (default: at the end of each epoch)."),
    click.option("--save-every", type=click.IntRange(min=1), default=10, show_default=True,
                 help="Resumable checkpoint every N steps."),
)

EVALUATION = stack(
    click.option("--evaluate", "eval_split", default=None, metavar="SPLIT",
                 help="Afterwards, score the base and the tuned model on SPLIT (greedy, llama.cpp)."),
    click.option("--eval-limit", type=click.IntRange(min=1), default=None, help="Only the first N tasks of SPLIT."),
    click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True),
    click.option("--threads", type=click.IntRange(min=0), default=None,
                 help="llama.cpp threads (default: idle cores)."),
)


@click.command()
@benchmark_option()
@click.option("--split", "-s", default="train", show_default=True, help="Split to train on.")
@click.option("--val-split", default="validation", show_default=True,
              help="Split whose loss picks the best checkpoint ('none': keep the last step).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (adapter, adapter.gguf, config, loss curve); rerun to resume.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N training tasks.")
@TASK_ID
@click.option("--val-limit", type=click.IntRange(min=1), default=None, help="Only the first N validation tasks.")
@click.option("--shots", type=click.IntRange(0, 10), default=DEFAULT_SHOTS, show_default=True,
              help="Worked examples in each training prompt; evaluate with the same --shots.")
@click.option("--shot-ids", default=None, help="Comma-separated task ids of the shots.")
@click.option("--asserts-shown", type=click.IntRange(0, 3), default=3, show_default=True)
@click.option("--target", type=click.Choice([t.value for t in Target]), default=Target.CODE.value, show_default=True,
              help="What the model learns to write: the task's code, or a program's output (execution prediction).")
@click.option("--exec-condition", type=click.Choice([c.value for c in Condition]), default=Condition.CODE.value,
              show_default=True, help="--target exec-predict: the prompt condition trained on (few-shot uses --shots).")
@TRAINING
@EVALUATION
@DATA_DIR
@OFFLINE
@BENCHMARK_FLAGS.decorators()
@click.option("--fresh", is_flag=True, help="Discard the output folder's training and start over.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def finetune(**kw: Any) -> None:
    """Fine-tune a model on a benchmark's training split (LoRA by default; resumable)."""
    cfg = _config(kw)
    if kw["eval_split"] is not None:  # refuse a bad evaluation before training, not after
        from progsynth.experiments.finetune.adapter import check_eval_split

        check_eval_split(cfg.benchmark, cfg.split, cfg.benchmark, kw["eval_split"])
    from progsynth.experiments.finetune.pipeline import finetune as train

    out = train(cfg, show_progress=not kw["quiet"])
    from progsynth.experiments.finetune.results import summary_lines

    click.echo("\n".join(summary_lines(out.results)))
    click.echo(f"results: {out.results_path}")
    if kw["eval_split"] is not None:
        _evaluate(cfg, kw)


def _config(kw: dict[str, Any]) -> FinetuneConfig:
    val_split = None if kw["val_split"].lower() == "none" else kw["val_split"]
    return FinetuneConfig(
        out_dir=kw["out_dir"], benchmark=kw["benchmark"],
        benchmark_options=BENCHMARK_FLAGS.values_for(kw["benchmark"], kw), split=kw["split"],
        val_split=val_split, limit=kw["limit"], task_ids=tuple(kw["task_ids"]), val_limit=kw["val_limit"],
        prompt=_prompt(kw), base=kw["base"],
        method=Method.FULL if kw["full"] else Method.LORA, rank=kw["rank"], alpha=kw["alpha"],
        dropout=kw["dropout"], epochs=kw["epochs"], max_steps=kw["max_steps"], batch_size=kw["batch_size"],
        lr=kw["lr"], warmup=kw["warmup"], weight_decay=kw["weight_decay"], max_len=kw["max_len"],
        seed=kw["seed"], dtype=kw["dtype"], device=kw["device"], prefix_cache=kw["prefix_cache"],
        eval_every=kw["eval_every"],
        save_every=kw["save_every"], data=data_config(kw), fresh=kw["fresh"],
    )


def _prompt(kw: dict[str, Any]) -> PromptConfig:
    if kw["target"] == Target.CODE.value:
        return prompt_config({**kw, "prompt_style": "paper"})
    condition = Condition(kw["exec_condition"])
    return ExecPredictPrompt(shots=kw["shots"] if condition is Condition.FEW_SHOT else 0, condition=condition)


def _evaluate(cfg: FinetuneConfig, kw: dict[str, Any]) -> None:
    """Base and tuned on ``--evaluate SPLIT``, in ``OUT/eval-SPLIT/{base,tuned}``."""
    if isinstance(cfg.prompt, ExecPredictPrompt):
        _evaluate_exec(cfg, cfg.prompt, kw)
        return
    from progsynth.experiments.finetune.serve import compare
    from progsynth.run.config import RunConfig, paper_sampling

    split = kw["eval_split"]
    run_cfg = RunConfig(benchmark=cfg.benchmark, benchmark_options=cfg.benchmark_options, split=split,
                        limit=kw["eval_limit"], sampling=paper_sampling(1, max_tokens=kw["max_tokens"]),
                        prompt=cfg.prompt, data=cfg.data)
    options = {"threads": kw["threads"]} if kw["threads"] is not None else {}
    result = compare(cfg.out_dir, run_cfg, cfg.out_dir / f"eval-{split}", **options)
    for label, side in (("base", result.base), ("tuned", result.tuned)):
        low, high = side.ci95
        click.echo(f"{label:>5}: pass@1 {100 * side.pass_at_1:.1f}% (95% CI {100 * low:.1f}-{100 * high:.1f}) "
                   f"on {side.tasks} tasks  [{side.run_dir}]")
    click.echo(f"solved only by the base: {len(result.only_base)}, only by the tuned model: {len(result.only_tuned)}")
    click.echo(f"paired comparison: progsynth compare {result.base.run_dir} {result.tuned.run_dir}")


def _evaluate_exec(cfg: FinetuneConfig, prompt: ExecPredictPrompt, kw: dict[str, Any]) -> None:
    """``progsynth exec-predict`` in the trained condition for the base and the tuned model."""
    from progsynth.experiments.exec_predict.pipeline import ExecPredictConfig, exec_predict
    from progsynth.experiments.finetune.adapter import read_adapter, tuned_run_options
    from progsynth.report.exec_predict import summary_lines
    from progsynth.run.config import RunConfig, paper_sampling

    split = kw["eval_split"]
    info = read_adapter(cfg.out_dir)
    options: dict[str, Any] = {"threads": kw["threads"]} if kw["threads"] is not None else {}
    base = {**options, "model": str(info.base_gguf)} if info.base_gguf is not None else options
    tuned, provenance = tuned_run_options(cfg.out_dir, options, cfg.benchmark, split, info.shots)
    for label, backend_options, where in (("base", base, {}), ("tuned", tuned, provenance)):
        run = RunConfig(out_dir=cfg.out_dir / f"eval-{split}" / f"exec-{label}", benchmark=cfg.benchmark,
                        benchmark_options=cfg.benchmark_options, split=split, limit=kw["eval_limit"],
                        backend="llamacpp", backend_options=backend_options, data=cfg.data, model_provenance=where,
                        sampling=paper_sampling(1, max_tokens=min(kw["max_tokens"], 128)))
        out = exec_predict(ExecPredictConfig(run, (prompt.condition,), max(prompt.shots, 1)),
                           show_progress=not kw["quiet"])
        click.echo(f"{label}:")
        click.echo("\n".join(summary_lines(out.document)))
