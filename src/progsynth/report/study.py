"""The study view of a sweep (``progsynth sweep CONFIG --report``): the paper's figures for a grid.

* pass@1 against parameter count on a log axis, with 95% intervals and a least-squares line per
  model family (its slope is given per doubling of parameters), as in Austin et al. (2021) fig. 3;
* the spread over prompt example sets (a box per setting, with min/max/std in the table), as in
  their 15 random 3-shot prompts;
* pass@1 against the number of asserts shown in the prompt;
* pass@1 per evaluation protocol (``progsynth.protocols``), when the sweep varies it;
* a table of every cell with its status, score and run time.

Only ``sweep.json`` is read; plots are PNG (inlined in the HTML, also written beside it) and SVG.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot loads
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from progsynth.experiments.sweep.results import CellRecord, CellStatus, SweepSummary  # noqa: E402
from progsynth.report.plots import Plot, save_figure  # noqa: E402

STUDY_FILE = "study.html"
PLOTS_DIR = "study_plots"
_PROMPT_KEYS = ("shot_ids",)
_PROTOCOL_KEYS = ("protocol", "prompt_style", "shots", "shot_ids", "asserts_shown")


@dataclass(frozen=True)
class StudyFiles:
    html: Path
    plots: tuple[Plot, ...]


@dataclass(frozen=True)
class Fit:
    """A family's log-linear fit: pass@1 = intercept + slope * log2(params)."""

    family: str
    slope: float  # pass@1 gained per doubling of parameters
    intercept: float


def done_cells(summary: SweepSummary) -> list[CellRecord]:
    return [c for c in summary.cells if c.status is CellStatus.DONE and c.pass_at_1 is not None]


def _group_key(cell: CellRecord, without: Sequence[str]) -> str:
    """The cell's settings except ``without``: cells with the same key differ only there."""
    return json.dumps({k: v for k, v in cell.values.items() if k not in without}, sort_keys=True, default=str)


def groups(cells: Sequence[CellRecord], without: Sequence[str]) -> list[list[CellRecord]]:
    out: dict[str, list[CellRecord]] = {}
    for cell in cells:
        out.setdefault(_group_key(cell, without), []).append(cell)
    return list(out.values())


def _label(group: Sequence[CellRecord], without: Sequence[str], axes: Sequence[str]) -> str:
    """What a group's cells share, in the sweep's varying options only (short legends)."""
    first = group[0].values
    shown = [k for k in axes if k not in without and k in first]
    return ", ".join(f"{k}={_plain(first[k])}" for k in shown) or "all cells"


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v).rsplit("/", 1)[-1] for v in value)
    return str(value)


ALL_FAMILIES = "all models"


def fit_families(cells: Sequence[CellRecord]) -> list[Fit]:
    """Least-squares lines of pass@1 on log2(params), one per family with two sizes or more, and
    one over every model when several families are shown (a cross-family size study)."""
    families = sorted({c.family for c in cells})
    chosen = [(f, [c for c in cells if c.family == f]) for f in families]
    if len(families) > 1:
        chosen.append((ALL_FAMILIES, list(cells)))
    fits = []
    for family, members in chosen:
        points = [(math.log2(c.params), c.pass_at_1.value) for c in members if c.params and c.pass_at_1 is not None]
        if len({x for x, _ in points}) < 2:
            continue
        slope, intercept = np.polyfit([x for x, _ in points], [y for _, y in points], 1)
        fits.append(Fit(family or "unknown", float(slope), float(intercept)))
    return fits


def _errorbar(ax: Axes, xs: Sequence[float], cells: Sequence[CellRecord], **kw: object) -> None:
    ys = [c.pass_at_1.value for c in cells if c.pass_at_1 is not None]
    low = [c.pass_at_1.value - c.pass_at_1.low for c in cells if c.pass_at_1 is not None]
    high = [c.pass_at_1.high - c.pass_at_1.value for c in cells if c.pass_at_1 is not None]
    ax.errorbar(xs, ys, yerr=[low, high], capsize=3, **kw)  # type: ignore[arg-type]


def plot_scaling(summary: SweepSummary, out_dir: Path) -> Plot | None:
    """pass@1 against parameters for the setting shared by the most model sizes."""
    cells = [c for c in done_cells(summary) if c.params]
    series = max(groups(cells, ("model",)), key=lambda g: len({c.params for c in g}), default=[])
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for family in sorted({c.family for c in series}):
        members = sorted((c for c in series if c.family == family), key=lambda c: c.params or 0)
        _errorbar(ax, [float(c.params or 0) for c in members], members, fmt="o", label=family or "unknown")
        for c in members:
            ax.annotate(c.model, (c.params or 0, c.pass_at_1.value if c.pass_at_1 else 0),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    for fit in fit_families(series):
        xs = np.array(sorted({float(c.params or 0) for c in series
                              if fit.family in (c.family or "unknown", ALL_FAMILIES)}))
        ax.plot(xs, fit.intercept + fit.slope * np.log2(xs), ":" if fit.family == ALL_FAMILIES else "--",
                label=f"{fit.family} fit: {fit.slope * 100:+.1f} pts per doubling")
    ax.set_xscale("log")
    sizes = sorted({float(c.params or 0) for c in series})
    ax.set_xticks(sizes, [f"{v / 1e6:.0f}M" if v < 1e9 else f"{v / 1e9:.2g}B" for v in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("pass@1 (95% CI)")
    ax.set_title(_label(series, ("model",), summary.axes), fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "scaling", "pass@1 against model size, with a log-linear fit per family")


def plot_prompt_spread(summary: SweepSummary, out_dir: Path) -> Plot | None:
    """A box per setting over the prompt example sets it was run with."""
    boxes = [g for g in groups(done_cells(summary), _PROMPT_KEYS) if len(g) > 1]
    if not boxes:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(boxes)), 4.0))
    data = [[c.pass_at_1.value for c in g if c.pass_at_1 is not None] for g in boxes]
    ax.boxplot(data)
    for i, values in enumerate(data, 1):
        ax.scatter([i] * len(values), values, s=10, alpha=0.6)
    ax.set_xticks(range(1, len(boxes) + 1), [_label(g, _PROMPT_KEYS, summary.axes) for g in boxes],
                  rotation=20, fontsize=7, ha="right")
    ax.set_ylabel("pass@1")
    ax.set_ylim(-0.02, 1.02)
    return save_figure(fig, out_dir, "prompt_spread", "Spread of pass@1 over prompt example sets")


def _curve(summary: SweepSummary, out_dir: Path, key: str, name: str, title: str,
           xvalue: Callable[[CellRecord], float]) -> Plot | None:
    lines = [sorted(g, key=xvalue) for g in groups(done_cells(summary), (key,))
             if len({str(c.values.get(key)) for c in g}) > 1]
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for g in lines:
        _errorbar(ax, [xvalue(c) for c in g], g, fmt="o-", label=_label(g, (key,), summary.axes))
    ax.set_xlabel(key)
    ax.set_ylabel("pass@1 (95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, name, title)


def plot_asserts(summary: SweepSummary, out_dir: Path) -> Plot | None:
    return _curve(summary, out_dir, "asserts_shown", "asserts_shown", "pass@1 against the asserts shown in the prompt",
                  lambda c: float(c.values.get("asserts_shown", 0)))


def _wording(cell: CellRecord) -> str:
    """What a cell's prompt follows: its protocol preset, else its prompt style (``chat`` is not a
    preset, so a paper-vs-chat study would otherwise show two columns named ``custom``)."""
    if cell.protocol != "custom":
        return cell.protocol
    return f"custom ({cell.values.get('prompt_style', '?')})"


def plot_protocols(summary: SweepSummary, out_dir: Path) -> Plot | None:
    sets = [g for g in groups(done_cells(summary), _PROTOCOL_KEYS) if len({_wording(c) for c in g}) > 1]
    if not sets:
        return None
    names = sorted({_wording(c) for g in sets for c in g})
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    width = 0.8 / len(sets)
    for i, g in enumerate(sets):
        xs = [names.index(_wording(c)) + i * width for c in g]
        _errorbar(ax, xs, g, fmt="s", label=_label(g, _PROTOCOL_KEYS, summary.axes))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names)
    ax.set_ylabel("pass@1 (95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, "protocols", "pass@1 under each evaluation protocol or prompt style")


def spread_rows(summary: SweepSummary) -> list[tuple[str, int, float, float, float]]:
    """(setting, prompt sets, min, max, std) of pass@1 over prompt example sets."""
    rows = []
    for g in groups(done_cells(summary), _PROMPT_KEYS):
        values = [c.pass_at_1.value for c in g if c.pass_at_1 is not None]
        if len(values) > 1:
            rows.append((_label(g, _PROMPT_KEYS, summary.axes), len(values), min(values), max(values),
                         float(np.std(values, ddof=1))))
    return rows


_COLUMNS = ("cell", "model", "params", "protocol", "shots", "asserts", "T", "n", "status", "pass@1", "95% CI",
            "tasks", "run time")


def _row(c: CellRecord) -> list[str]:
    p = c.pass_at_1
    return [c.name, c.model, f"{c.params / 1e6:.0f}M" if c.params else "?", c.protocol,
            _plain(c.values.get("shot_ids", "")) or "default", str(c.values.get("asserts_shown", "")),
            str(c.values.get("temperature", "")), str(c.values.get("samples", "")),
            c.status.value + (f": {c.error}" if c.error else ""), f"{p.value:.3f}" if p else "",
            f"[{p.low:.3f}, {p.high:.3f}]" if p else "", str(c.tasks),
            f"{c.run_time_s:.1f} s" if c.run_time_s is not None else ""]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}figure{margin:1em 0}"
        "figcaption{font-weight:bold}")


def render_html(summary: SweepSummary, plots: Sequence[Plot]) -> str:
    counts = {s.value: sum(c.status is s for c in summary.cells) for s in CellStatus}
    fits = fit_families([c for g in groups([c for c in done_cells(summary) if c.params], ("model",)) for c in g])
    parts = [f"<h1>Sweep {html.escape(summary.name)}</h1>",
             f"<p>{html.escape(summary.config_file)}: {len(summary.cells)} cells "
             f"({', '.join(f'{v} {k}' for k, v in counts.items())}); varying: "
             f"{html.escape(', '.join(summary.axes) or 'nothing')}. Intervals are 95% bootstrap intervals "
             f"over tasks.</p>"]
    parts += [f'<figure><figcaption>{html.escape(p.title)}</figcaption>'
              f'<img alt="{html.escape(p.name)}" src="data:image/png;base64,{p.png_base64}"></figure>' for p in plots]
    if fits:
        parts.append("<h2>Log-linear fits</h2>" + _table(
            ("family", "pts per doubling", "intercept"),
            [(f.family, f"{f.slope * 100:+.2f}", f"{f.intercept:.3f}") for f in fits]))
    spread = spread_rows(summary)
    if spread:
        parts.append("<h2>Prompt example sets</h2>" + _table(
            ("setting", "sets", "min", "max", "std"),
            [(s, str(n), f"{lo:.3f}", f"{hi:.3f}", f"{sd:.3f}") for s, n, lo, hi, sd in spread]))
    parts.append("<h2>All cells</h2>" + _table(_COLUMNS, [_row(c) for c in summary.cells]))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(summary.name)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_study(summary: SweepSummary, out_dir: Path) -> StudyFiles:
    """``out_dir/study.html`` with its plots in ``out_dir/study_plots/``."""
    plot_dir = out_dir / PLOTS_DIR
    made = [plot(summary, plot_dir) for plot in (plot_scaling, plot_prompt_spread, plot_asserts, plot_protocols)]
    plots = tuple(p for p in made if p is not None)
    path = out_dir / STUDY_FILE
    path.write_text(render_html(summary, plots), encoding="utf-8")
    return StudyFiles(path, plots)
