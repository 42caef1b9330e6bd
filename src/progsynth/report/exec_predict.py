"""The execution-prediction views: the terminal table, a bar chart and an HTML section, all read
from the typed ``exec_predict.json`` document (``ExecPredictResults``), never from the raw files."""

from __future__ import annotations

import base64
import html
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path

from progsynth.errors import DataError
from progsynth.experiments.exec_predict.results import RESULTS_FILE, ExecPredictResults
from progsynth.metrics import Estimate

PLOT_FILE = "exec_predict.png"
HTML_FILE = "exec_predict.html"


def _pct(est: Estimate) -> str:
    return f"{100 * est.value:5.1f}% [{100 * est.low:5.1f}, {100 * est.high:5.1f}]"


def load(out_dir: Path) -> ExecPredictResults:
    """The results document of an exec-predict output directory (DataError naming the file)."""
    path = out_dir / RESULTS_FILE
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise DataError(path, f"invalid JSON ({exc})") from None
    return ExecPredictResults.from_json(data, path)


def fact_line(doc: ExecPredictResults) -> str:
    f = doc.facts
    excluded = ", ".join(f"{kind} {n}" for kind, n in f.kinds.items() if kind != "literal" and n)
    line = f"facts: {f.usable} of {f.asserts} asserts on {f.tasks} tasks scored"
    line += f" (excluded: {excluded})" if excluded else ""
    if f.assert_disagrees:
        line += f"; {f.assert_disagrees} assert(s) expect another value than the reference returns"
    return line


def summary_lines(doc: ExecPredictResults) -> list[str]:
    """The table printed at the end of ``progsynth exec-predict``."""
    model = doc.model.get("name", doc.config.get("backend", "?"))
    rows = [f"execution prediction: {doc.config.get('benchmark')} {doc.config.get('split')}, model {model}",
            "  " + fact_line(doc),
            f"  {'condition':<18}{'n':>6}   {'exact (95% CI)':<24}{'tolerant (95% CI)':<24}{'unparsed':>8}"]
    for c in doc.conditions:
        rows.append(f"  {c.condition.value:<18}{c.predictions:>6}   {_pct(c.exact):<24}{_pct(c.tolerant):<24}"
                    f"{c.unparsed:>8}")
        if c.unparsed_reasons:
            top = ", ".join(f"{reason} {n}" for reason, n in list(c.unparsed_reasons.items())[:3])
            rows.append(f"  {'':<18}unparsed: {top}")
    rows.append(f"  wall time {doc.wall_s:.1f} s")
    return rows


def write_plot(doc: ExecPredictResults, out_dir: Path, name: str = PLOT_FILE) -> Path | None:
    """``exec_predict.png``: exact and tolerant accuracy per condition with their 95% CIs (None
    without matplotlib or without any condition)."""
    if importlib.util.find_spec("matplotlib") is None or not doc.conditions:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.condition.value for c in doc.conditions]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for offset, label in ((-0.2, "exact"), (0.2, "tolerant")):
        ests = [c.exact if label == "exact" else c.tolerant for c in doc.conditions]
        values = [100 * e.value for e in ests]
        errors = [[100 * (e.value - e.low) for e in ests], [100 * (e.high - e.value) for e in ests]]
        ax.bar([i + offset for i in range(len(names))], values, width=0.4, yerr=errors, capsize=3, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("outputs predicted (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    fig.savefig(target)
    plt.close(fig)
    return target


def html_section(doc: ExecPredictResults) -> str:
    """A self-contained HTML fragment with the same table, for a report page."""
    head = "<tr><th>condition</th><th>n</th><th>exact</th><th>tolerant</th><th>unparsed</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(c.condition.value)}</td><td>{c.predictions}</td><td>{_pct(c.exact)}</td>"
        f"<td>{_pct(c.tolerant)}</td><td>{c.unparsed}</td></tr>" for c in doc.conditions)
    return (f"<section id=\"exec-predict\"><h2>Execution prediction</h2><p>{html.escape(fact_line(doc))}</p>"
            f"<table>{head}{body}</table></section>")


def _image(plot: Path | None) -> str:
    if plot is None or not plot.is_file():
        return ""
    data = base64.b64encode(plot.read_bytes()).decode("ascii")
    return f'<img alt="accuracy per condition" src="data:image/png;base64,{data}">'


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:right}</style>"
            f"</head><body>{body}</body></html>\n")


def write_html(doc: ExecPredictResults, out_dir: Path, plot: Path | None = None) -> Path:
    """``exec_predict.html``: the section as a page of its own, the plot inlined when there is one."""
    title = f"Execution prediction: {doc.config.get('benchmark')} {doc.config.get('split')}"
    target = out_dir / HTML_FILE
    target.write_text(_page(title, html_section(doc) + _image(plot)), encoding="utf-8")
    return target


def is_exec_predict_dir(path: Path) -> bool:
    """An exec-predict output (not a run directory): ``progsynth report`` routes it here."""
    return (path / RESULTS_FILE).is_file()


def write_report(run_dirs: Sequence[Path], out: Path) -> Path:
    """``progsynth report`` of exec-predict directories: one section and plot per directory, in one
    page at ``out`` (plots in ``<out stem>_plots`` beside it)."""
    plots_dir = out.with_name(out.stem + "_plots")
    sections = []
    for index, run_dir in enumerate(run_dirs):
        doc = load(run_dir)
        plot = write_plot(doc, plots_dir, f"exec_predict-{index}.png")
        sections.append(f"<h1>{html.escape(str(run_dir))}</h1>{html_section(doc)}{_image(plot)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page("Execution prediction", "".join(sections)), encoding="utf-8")
    return out
