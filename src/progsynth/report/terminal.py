"""The summary table printed at the end of a run, read from the typed results document."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from progsynth.metrics import Estimate
from progsynth.store.results import Coverage, Failure, MetricsBlock, Results

_LABELS = {"solved_any": "tasks solved (any sample)", "samples_pass": "samples that pass"}


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def metrics_table(block: MetricsBlock, indent: str = "  ") -> list[str]:
    rows = [f"{indent}{'metric':<28}{'value':>8}   95% CI"]
    for name, est in block.metrics.items():
        rows.append(f"{indent}{_LABELS.get(name, name):<28}{_pct(est.value):>8}   [{_pct(est.low)}, {_pct(est.high)}]")
    return rows


def coverage_lines(coverage: Coverage) -> list[str]:
    """Say plainly when the scores do not cover the whole split, and how to change that."""
    absent = len(coverage.absent_tasks)
    if not absent:
        return []
    if coverage.missing_as_failed:
        return [f"  NOTE: {absent} of the split's {coverage.split_tasks} tasks have no samples; "
                "they are counted as failures (--missing-as-failed)"]
    scored = coverage.split_tasks - absent
    return [f"  NOTE: {absent} of the split's {coverage.split_tasks} tasks have no samples and are left out of "
            f"every metric below (scored: {scored}); --missing-as-failed counts them as failures"]


def timeout_lines(timeouts: Mapping[str, Any]) -> list[str]:
    """How CPU limits were set, so a TIMEOUT count can be read right."""
    if not timeouts:
        return []
    if not timeouts.get("enabled"):
        return ["  timeouts: fixed (--timeout for every program)"]
    span = timeouts.get("limit_s") or {}
    limits = f"; limits {span['min']:g}-{span['max']:g} s CPU" if span else ""
    return [f"  timeouts: adaptive ({timeouts['factor']:g} x the reference's CPU time, at least "
            f"{timeouts['floor_s']:g} s{limits}; --fixed-timeouts for strict comparisons)"]


def verdict_line(block: MetricsBlock) -> str:
    counts = ", ".join(f"{status.value} {v}" for status, v in block.verdicts.items() if v)
    if block.error_types:
        top = ", ".join(f"{k} {v}" for k, v in list(block.error_types.items())[:5])
        counts += f" (errors: {top})"
    return f"  verdicts: {counts or 'none'}"


def _inline(metrics: Mapping[str, Estimate]) -> str:
    return ", ".join(f"{_LABELS.get(k, k)} {_pct(v.value).strip()}" for k, v in metrics.items())


def summary(results: Results, *, list_failures: int = 20) -> str:
    cfg, overall = results.config, results.overall
    backend = f"  [{results.info.backend.get('name', '')}]" if results.info.backend is not None else ""
    protocol = f", protocol {cfg['protocol']}" if cfg.get("protocol") else ""
    lines = [
        f"{cfg.get('benchmark', '?')} / {cfg.get('split', '?')}: {overall.tasks} tasks, "
        f"{overall.samples} samples, {overall.passed} passed{protocol}{backend}",
        *coverage_lines(results.coverage),
        *metrics_table(overall),
        verdict_line(overall),
    ]
    for split, block in results.by_split.items():
        lines.append(f"  split {split}: {block.tasks} tasks, {_inline(block.metrics)}")
    lines += timeout_lines(results.info.timeouts)
    if results.finish_reasons:
        lines.append("  generation ended by: " + ", ".join(f"{k} {v}" for k, v in results.finish_reasons.items()))
    challenge = results.challenge
    if challenge is not None:
        lines.append(f"  challenge tests ({challenge.block.tasks} tasks): {_inline(challenge.block.metrics)}")
    lines += _failure_list("failing tasks", results.failed_tasks, list_failures)
    if challenge is not None:
        lines += _failure_list("failing challenge tests", challenge.failed_tasks, list_failures)
    if results.incomplete_tasks:
        lines.append(f"  tasks missing samples or verdicts: {len(results.incomplete_tasks)}")
    return "\n".join(lines)


def _failure_list(title: str, failures: tuple[Failure, ...], most: int) -> Iterable[str]:
    if not failures or len(failures) > most:
        return []
    return [f"  {title} ({len(failures)}):", *(f"    {_failure_text(f)}" for f in failures)]


def _failure_text(f: Failure) -> str:
    parts = [f"{f.task_id} #{f.sample_idx}: {f.status.value}"]
    if f.error_type:
        parts.append(f.error_type)
    if f.failed_test is not None:
        parts.append(f"test {f.failed_test}")
    if f.message:
        parts.append(f.message.splitlines()[0][:120])
    return " ".join(parts)
