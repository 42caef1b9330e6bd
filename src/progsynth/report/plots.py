"""The report's figures, drawn with matplotlib's Agg backend (no display needed) and written as PNG
and SVG files; the PNG bytes are also kept so the HTML can inline them as ``data:`` URLs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot loads
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from progsynth.metrics import pass_at_k  # noqa: E402
from progsynth.report.analysis import Category, TaskDifficulty, Taxonomy  # noqa: E402
from progsynth.report.load import RunData  # noqa: E402

_GRID = (1, 2, 3, 5, 10, 20, 30, 50, 80, 100, 200, 500, 1000)
_FAILURES = [c for c in Category if c is not Category.PASSED]


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    png: Path
    svg: Path
    png_base64: str


def k_grid(min_n: int) -> list[int]:
    """The k values drawn on the x axis: a log-spaced grid up to the smallest sample count."""
    return sorted({k for k in _GRID if k <= min_n} | ({min_n} if min_n > 0 else set()))


def pass_curve(run: RunData, ks: Sequence[int]) -> list[float]:
    """Unbiased pass@k averaged over tasks, for each k."""
    tasks = [t for t in run.tasks if t.n]
    return [float(np.mean([pass_at_k(t.n, t.c, k) for t in tasks])) if tasks else 0.0 for k in ks]


def first_k_curve(run: RunData, ks: Sequence[int]) -> list[float]:
    """Share of tasks solved by one of their first k samples (what the paper plots as "tasks solved")."""
    firsts = [min((i for i, r in t.tests.items() if r.verdict.passed), default=None) for t in run.tasks if t.n]
    if not firsts:
        return [0.0 for _ in ks]
    return [sum(1 for f in firsts if f is not None and f < k) / len(firsts) for k in ks]


def _plain_log_x(ax: Axes, ticks: Sequence[int] = ()) -> None:
    """A log x axis labelled with plain numbers (1, 10, 80), not 10^0 and crowded minor labels."""
    ax.set_xscale("log")
    if ticks:
        ax.set_xticks(list(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_figure(fig: Figure, out_dir: Path, name: str, title: str) -> Plot:
    """``name``.png and .svg in ``out_dir`` (the PNG also inlined, so an HTML page is self-contained)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    png.write_bytes(buf.getvalue())
    fig.savefig(svg, format="svg", bbox_inches="tight")
    plt.close(fig)
    return Plot(name, title, png, svg, base64.b64encode(buf.getvalue()).decode("ascii"))


def plot_pass_at_k(runs: Sequence[RunData], out_dir: Path) -> Plot:
    """The paper's curves: the unbiased estimate beside what the first k samples actually solved,
    so a reader sees both the expectation and this run's luck of the draw."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    drawn: set[int] = set()
    for run in runs:
        sizes = [t.n for t in run.tasks if t.n]
        ks = k_grid(min(sizes) if sizes else 0)
        if not ks:
            continue
        drawn.update(ks)
        left.plot(ks, [100 * v for v in pass_curve(run, ks)], marker="o", label=run.label)
        right.plot(ks, [100 * v for v in first_k_curve(run, ks)], marker="o", label=run.label)
    for ax, title in ((left, "pass@k (unbiased estimate)"), (right, "tasks solved by the first k samples")):
        _plain_log_x(ax, sorted(drawn))
        ax.set_xlabel("number of samples k")
        ax.set_ylabel("% of tasks")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    return save_figure(fig, out_dir, "pass_at_k", "pass@k and tasks solved against the number of samples")


def plot_errors(taxonomies: Sequence[Taxonomy], out_dir: Path) -> Plot:
    """Failure categories and runtime exception types as shares of all samples, runs side by side
    (shares, not counts, so runs of different sizes compare)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(1, len(taxonomies))
    types = sorted({e for t in taxonomies for e in t.runtime_errors},
                   key=lambda e: -sum(t.runtime_errors.get(e, 0) for t in taxonomies))[:8]
    for i, tax in enumerate(taxonomies):
        total = max(1, tax.samples)
        y = np.arange(len(_FAILURES)) + i * width
        left.barh(y, [100 * tax.counts.get(c, 0) / total for c in _FAILURES], height=width, label=tax.label)
        if types:
            right.barh(np.arange(len(types)) + i * width,
                       [100 * tax.runtime_errors.get(e, 0) / total for e in types], height=width, label=tax.label)
    left.set_yticks(np.arange(len(_FAILURES)) + 0.4 - width / 2, [c.value for c in _FAILURES])
    left.set_xlabel("% of samples")
    left.set_title("why samples fail")
    left.invert_yaxis()
    left.legend(fontsize=8)
    right.set_yticks(np.arange(len(types)) + 0.4 - width / 2, types)
    right.set_xlabel("% of samples")
    right.set_title("runtime errors by exception type")
    right.invert_yaxis()
    fig.tight_layout()
    return save_figure(fig, out_dir, "errors", "Error taxonomy")


def _binned(x: np.ndarray, y: np.ndarray, bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``y`` in quantile bins of ``x`` (the trend under the scatter); nothing for a handful
    of tasks, where a trend line would only join the dots."""
    if len(x) < 3 * bins:
        return np.array([]), np.array([])
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    keep = [b for b in range(len(edges) - 1) if (which == b).any()]
    return (np.array([x[which == b].mean() for b in keep]), np.array([y[which == b].mean() for b in keep]))


def plot_difficulty(per_run: Sequence[tuple[str, Sequence[TaskDifficulty]]], out_dir: Path) -> Plot | None:
    """Pass rate against the reference's and the description's size; None without benchmark data."""
    if not any(d.reference_tokens is not None for _, ds in per_run for d in ds):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for label, ds in per_run:
        known = [d for d in ds if d.reference_tokens is not None and d.description_tokens is not None and d.n]
        rate = np.array([100 * d.rate for d in known])
        for ax, xs in zip(axes, ([d.reference_tokens for d in known], [d.description_tokens for d in known]),
                          strict=True):
            x = np.array(xs, dtype=np.float64)
            points = ax.scatter(x, rate, s=10, alpha=0.4, label=label)
            bx, by = _binned(x, rate)
            if len(bx):
                ax.plot(bx, by, color=points.get_facecolor()[0][:3], linewidth=2)
    axes[0].set_xlabel("reference solution length (tokens)")
    axes[1].set_xlabel("task description length (tokens)")
    axes[0].set_ylabel("% of samples that pass")
    _plain_log_x(axes[0])  # reference lengths span two decades, descriptions less than one
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_figure(fig, out_dir, "difficulty", "Pass rate against task size (dots: tasks; lines: binned means)")


def plot_all(runs: Sequence[RunData], taxonomies: Sequence[Taxonomy],
             difficulties: Sequence[tuple[str, Sequence[TaskDifficulty]]], out_dir: Path) -> list[Plot]:
    plots = [plot_pass_at_k(runs, out_dir), plot_errors(taxonomies, out_dir)]
    diff = plot_difficulty(difficulties, out_dir)
    return plots + ([diff] if diff is not None else [])
