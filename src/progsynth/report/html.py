"""The self-contained HTML report: Jinja2 templates shipped in ``report/templates``, plots inlined
as ``data:`` PNGs, and every task's view (prompt, reference, samples, verdicts) embedded as one
gzip-compressed JSON blob that the page unpacks on the first click, so a 40,000-sample run stays a
few megabytes and opens without a network."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from progsynth.report.analysis import (
    Category,
    Hardcoded,
    Overfitting,
    categorize,
    difficulty,
    headlines,
    overfitting,
    task_sets,
    taxonomy,
)
from progsynth.report.compare import Comparison, compare
from progsynth.report.dialog import dialog_plots
from progsynth.report.load import RunData, TaskRecord
from progsynth.report.plots import Plot, plot_all

MESSAGE_CHARS = 600


@dataclass(frozen=True)
class ReportFiles:
    """Where ``write_report`` put things (the CLI prints them)."""

    html: Path
    plots: tuple[Plot, ...]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("progsynth.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%"
    env.filters["spct"] = lambda x: f"{100 * x:+.1f}%"
    return env


def _prompt_fingerprint(run: RunData) -> tuple[str, int]:
    """One hash over every task's prompt hash (same prompts, same fingerprint) and how many there are."""
    hashes = sorted({f"{s.task_id}:{s.prompt_hash}" for t in run.tasks for s in t.samples if s.prompt_hash})
    digest = hashlib.sha256("\n".join(hashes).encode()).hexdigest()[:16] if hashes else ""
    return digest, len(hashes)


def metadata(run: RunData) -> dict[str, Any]:
    """Model, backend, decoding, prompts, versions, sandbox and timing of one run, as display rows."""
    cfg, res = run.config, run.results
    backend = dict(res.info.backend or {}) if res is not None else {}
    models = sorted({s.model for t in run.tasks for s in t.samples if s.model})
    fingerprint, prompts = _prompt_fingerprint(run)
    rows = [("run directory", str(run.path)), ("benchmark", f"{run.benchmark} / {run.split}"),
            ("model", ", ".join(models) or str(cfg.get("model", "?"))),
            ("backend", str(cfg.get("backend", backend.get("name", "?")))),
            ("backend details", json.dumps(backend, sort_keys=True) if backend else "-"),
            ("decoding", json.dumps(cfg.get("sampling", {}), sort_keys=True)),
            ("seed", str(dict(cfg.get("sampling") or {}).get("seed", "?"))),
            ("prompt", json.dumps(cfg.get("prompt", {}), sort_keys=True)),
            ("prompt hash", f"{fingerprint} (over {prompts} task prompts)" if prompts else "-"),
            ("execution limits", json.dumps(cfg.get("limits", {}), sort_keys=True))]
    if res is not None:
        rows += [("created", res.created), ("versions", json.dumps(dict(res.environment), sort_keys=True)),
                 ("wall time", f"{res.info.wall_s:.1f} s"),
                 ("generation ended by", ", ".join(f"{k} {v}" for k, v in res.finish_reasons.items()) or "-")]
        if res.info.samples_file:
            rows.append(("samples file", res.info.samples_file))
    sandbox = [(str(k), bool(v.get("active")), str(v.get("detail", ""))) for k, v in
               (res.info.sandbox.items() if res is not None else ()) if isinstance(v, Mapping)]
    return {"label": run.label, "rows": rows, "sandbox": sandbox, "notes": list(run.notes)}


def _sample_rows(task: TaskRecord, codes: dict[str, int], hard: Mapping[int, Hardcoded]) -> list[list[Any]]:
    """A task's samples as compact arrays (``report.js``'s ``sampleHtml`` reads them by position);
    programs are replaced by their index in ``codes`` so repeated programs are stored once."""
    samples = {s.sample_idx: s for s in task.samples}
    rows = []
    for idx, rec in task.tests.items():
        s = samples.get(idx)
        code = s.completion if s is not None else ""
        v, ch = rec.verdict, task.challenge.get(idx)
        found = hard.get(idx)
        rows.append([idx, codes.setdefault(code, len(codes)), categorize(rec, s).value, v.error_type or "",
                     v.failed_test, v.message[:MESSAGE_CHARS], s.finish_reason.value if s and s.finish_reason else "",
                     ch.verdict.status.value if ch is not None else "",
                     ch.verdict.failed_test if ch is not None else None,
                     "; ".join(f"line {f.line}: {f.kind.value} {f.value}" for f in found.findings) if found else ""])
    return rows


def task_blob(runs: Sequence[RunData], overfits: Sequence[Overfitting]) -> str:
    """Every task's view as gzip-compressed, base64-encoded JSON (programs stored once each)."""
    codes: dict[str, int] = {}
    tasks: dict[str, Any] = {}
    hard: list[dict[str, dict[int, Hardcoded]]] = [{} for _ in overfits]
    for found, o in zip(hard, overfits, strict=True):
        for h in o.hardcoded:
            found.setdefault(h.task_id, {})[h.sample_idx] = h
    for i, run in enumerate(runs):
        for t in run.tasks:
            entry = tasks.get(t.task_id)
            if entry is None:
                p = run.problems.get(t.task_id)
                entry = tasks[t.task_id] = {
                    "text": p.text if p else "", "prompt": run.prompts.get(t.task_id, ""),
                    "reference": (p.prompt_prefix + p.reference_completion) if p else "",
                    "tests": list(p.tests) if p else [], "challenge": list(p.challenge_tests) if p else [],
                    "runs": [[] for _ in runs]}
            entry["runs"][i] = _sample_rows(t, codes, hard[i].get(t.task_id, {}))
    doc = {"labels": [r.label for r in runs], "codes": list(codes), "tasks": tasks}
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def task_rows(runs: Sequence[RunData], overfits: Sequence[Overfitting]) -> list[dict[str, Any]]:
    """The per-task table: one row per task, its counts in each run and its flags."""
    order = list(dict.fromkeys(t.task_id for r in runs for t in r.tasks))
    lookup = [{t.task_id: t for t in r.tasks} for r in runs]
    hard = [{h.task_id for h in o.hardcoded} for o in overfits]
    misses = [{m.task_id for m in o.challenge_misses} for o in overfits]
    problems = {tid: p for r in runs for tid, p in r.problems.items()}
    rows = []
    for tid in order:
        cells = [(t.c, t.n) if (t := lk.get(tid)) is not None else None for lk in lookup]
        p = problems.get(tid)
        flags = []
        if any(c is not None and c[1] and not c[0] for c in cells):
            flags.append("unsolved")
        if all(c is not None and c[0] for c in cells):
            flags.append("solved-all")
        flags += ["hardcoded"] if any(tid in h for h in hard) else []
        flags += ["challenge"] if any(tid in m for m in misses) else []
        rows.append({"id": tid, "text": (p.text if p else "")[:140], "cells": cells, "flags": " ".join(flags)})
    return rows


def _context(runs: Sequence[RunData], plots: Sequence[Plot], overfits: Sequence[Overfitting],
             comparison: Comparison | None, taxonomies: Any) -> dict[str, Any]:
    """Everything ``report.html`` reads; the analyses are computed once here, never in the template."""
    return {
        "title": " vs ".join(r.label for r in runs),
        "runs": [metadata(r) for r in runs],
        "headlines": [h for r in runs for h in headlines(r)],
        "metric_names": ["pass@1", "pass@10", "pass@80", "solved_any", "samples_pass"],
        "plots": plots,
        "taxonomies": taxonomies,
        "categories": [c for c in Category if c is not Category.PASSED],
        "error_types": sorted({e for t in taxonomies for e in t.runtime_errors}),
        "assert_indices": sorted({i for t in taxonomies for i in t.failed_asserts}),
        "sets": task_sets(runs),
        "overfits": overfits,
        "comparison": comparison,
        "task_rows": task_rows(runs, overfits),
        "labels": [r.label for r in runs],
        "blob": task_blob(runs, overfits),
    }


def write_report(runs: Sequence[RunData], out: Path, plots_dir: Path | None = None) -> ReportFiles:
    """Render the report of ``runs`` to ``out`` and its plots (PNG and SVG) to ``plots_dir``
    (default: ``<out stem>_plots`` beside it)."""
    plots_dir = plots_dir or out.with_name(out.stem + "_plots")
    taxonomies = [taxonomy(r) for r in runs]
    plots = plot_all(runs, taxonomies, [(r.label, difficulty(r)) for r in runs], plots_dir)
    plots = [*plots, *dialog_plots(runs, plots_dir)]  # runs that are dialog directories
    overfits = [overfitting(r) for r in runs]
    comparison = compare(runs[0], runs[1]) if len(runs) == 2 else None
    html = _environment().get_template("report.html").render(
        **_context(runs, plots, overfits, comparison, taxonomies))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return ReportFiles(out, tuple(plots))
