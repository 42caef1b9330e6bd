"""The summary table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LABELS = {"solved_any": "tasks solved (any sample)", "samples_pass": "samples that pass"}


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def metrics_table(block: Mapping[str, Any], indent: str = "  ") -> list[str]:
    rows = [f"{indent}{'metric':<28}{'value':>8}   95% CI"]
    for name, est in block["metrics"].items():
        low, high = est["ci95"]
        rows.append(f"{indent}{_LABELS.get(name, name):<28}{_pct(est['value']):>8}   [{_pct(low)}, {_pct(high)}]")
    return rows


def verdict_line(block: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in block["verdicts"].items() if v)
    errors = block.get("error_types") or {}
    if errors:
        top = ", ".join(f"{k} {v}" for k, v in list(errors.items())[:5])
        counts += f" (errors: {top})"
    return f"  verdicts: {counts or 'none'}"


def summary(results: Mapping[str, Any], *, list_failures: int = 20) -> str:
    cfg = results.get("config", {})
    lines = [
        f"{cfg.get('benchmark', '?')} / {cfg.get('split', '?')}: {results['tasks']} tasks, "
        f"{results['samples']} samples, {results['passed']} passed"
        + (f"  [{results['backend'].get('name', '')}]" if isinstance(results.get("backend"), dict) else ""),
        *metrics_table(results),
        verdict_line(results),
    ]
    for split, block in (results.get("by_split") or {}).items():
        lines.append(f"  split {split}: {block['tasks']} tasks, " + ", ".join(
            f"{_LABELS.get(k, k)} {_pct(v['value']).strip()}" for k, v in block["metrics"].items()))
    reasons = (results.get("generation") or {}).get("finish_reasons") or {}
    if reasons:
        lines.append("  generation ended by: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    challenge = results.get("challenge")
    if challenge:
        lines.append(f"  challenge tests ({challenge['tasks']} tasks): " + ", ".join(
            f"{_LABELS.get(k, k)} {_pct(v['value']).strip()}" for k, v in challenge["metrics"].items()))
    failed = results.get("failed_tasks") or []
    if failed and len(failed) <= list_failures:
        lines.append(f"  failing tasks ({len(failed)}):")
        lines.extend(f"    {_failure_text(f)}" for f in failed)
    if challenge and 0 < len(challenge.get("failed_tasks", [])) <= list_failures:
        lines.append(f"  failing challenge tests ({len(challenge['failed_tasks'])}):")
        lines.extend(f"    {_failure_text(f)}" for f in challenge["failed_tasks"])
    if results.get("incomplete_tasks"):
        lines.append(f"  tasks missing samples or verdicts: {len(results['incomplete_tasks'])}")
    return "\n".join(lines)


def _failure_text(f: Mapping[str, Any]) -> str:
    parts = [f"{f['task_id']} #{f['sample_idx']}: {f['status']}"]
    if f.get("error_type"):
        parts.append(str(f["error_type"]))
    if f.get("failed_test") is not None:
        parts.append(f"test {f['failed_test']}")
    if f.get("message"):
        parts.append(str(f["message"]).splitlines()[0][:120])
    return " ".join(parts)
