"""A small mock-backend sweep end to end: done cells are never regenerated, a grown grid runs only
its new cells, a killed ``progsynth sweep`` resumes, and the study view renders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from progsynth.experiments.sweep.config import load_sweep
from progsynth.experiments.sweep.results import CellRecord, CellStatus, SweepSummary, read_summary
from progsynth.experiments.sweep.runner import prepare
from progsynth.metrics import Estimate
from progsynth.report.study import fit_families, spread_rows, write_study

BASE = """name = "mini"
limit = 2
samples = 2
temperature = 0.5
[grid]
model = [{backend = "mock", model = "b", params = 400_000_000, family = "m"},
         {backend = "mock", model = "a", params = 100_000_000, family = "m"}]
"""


def _mtimes(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*/samples.jsonl")}


def _sweep(config: Path, out: Path) -> SweepSummary:
    sweep, planned = prepare(load_sweep(config), out, show_progress=False, echo=lambda line: None)
    return sweep.run(planned)


def test_done_cells_are_never_rerun_and_a_grown_grid_adds_only_new_cells(tmp_path: Path) -> None:
    config, out = tmp_path / "s.toml", tmp_path / "out"
    config.write_text(BASE + "asserts_shown = [3]\n")
    first = _sweep(config, out)
    assert [c.status for c in first.cells] == [CellStatus.DONE] * 2
    assert [c.model for c in first.cells] == ["mock-a", "mock-b"]  # smallest first
    assert all(c.samples == 4 and c.tasks == 2 and c.pass_at_1 is not None for c in first.cells)
    before = _mtimes(out)
    results_before = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/results.json")}
    time.sleep(0.01)
    again = _sweep(config, out)
    assert _mtimes(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/results.json")} == results_before
    assert [c.to_json() for c in again.cells] == [c.to_json() for c in first.cells]

    config.write_text(BASE + "asserts_shown = [3, 1]\n")
    sweep, planned = prepare(load_sweep(config), out, show_progress=False, echo=lambda line: None)
    assert [p.done for p in planned] == [True, True, False, False]
    assert "2 done, 2 to run (8 samples)" in sweep.cost(planned).text()
    grown = sweep.run(planned)
    after = _mtimes(out)
    assert len(after) == 4 and {k: after[k] for k in before} == before
    assert [c.status for c in grown.cells] == [CellStatus.DONE] * 4
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["schema"] == "progsynth.sweep/1" and summary["counts"]["done"] == 4
    assert read_summary(out).cells[2].values["asserts_shown"] == 1


def test_each_cell_is_an_ordinary_run_directory(tmp_path: Path) -> None:
    config, out = tmp_path / "s.toml", tmp_path / "out"
    config.write_text(BASE)
    summary = _sweep(config, out)
    cell = summary.cells[0]
    results = json.loads((Path(cell.dir) / "results.json").read_text())
    assert results["config"]["backend"] == "mock" and results["config"]["limit"] == 2
    assert cell.command.startswith("progsynth run -b mbpp -s test --backend mock --model a --limit 2 -n 2")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def test_a_killed_sweep_resumes_without_redoing_work(tmp_path: Path) -> None:
    config, out = tmp_path / "s.toml", tmp_path / "out"
    config.write_text('limit = 4\n[grid]\nmodel = [{backend = "mock", model = "x", options = {delay_s = 0.4}}]\n'
                      "asserts_shown = [3, 2, 1]\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "progsynth", "sweep", str(config), "--out", str(out), "-q"]
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            summary = read_summary(out) if (out / "sweep.json").is_file() else None
            second = [Path(c.dir) / "samples.jsonl" for c in summary.cells[1:2]] if summary else []
            if summary and summary.cells[0].status is CellStatus.DONE and second and _lines(second[0]):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sweep did not reach its second cell")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = read_summary(out)
    assert [c.status for c in killed.cells] == [CellStatus.DONE, CellStatus.PENDING, CellStatus.PENDING]
    done_mtime = (Path(killed.cells[0].dir) / "samples.jsonl").stat().st_mtime_ns
    partial = _lines(Path(killed.cells[1].dir) / "samples.jsonl")
    assert 1 <= len(partial) < 4

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 done, 2 to run" in resumed.stderr and "estimated time" in resumed.stderr
    final = read_summary(out)
    assert [c.status for c in final.cells] == [CellStatus.DONE] * 3
    assert (Path(final.cells[0].dir) / "samples.jsonl").stat().st_mtime_ns == done_mtime
    lines = _lines(Path(final.cells[1].dir) / "samples.jsonl")
    assert lines[:len(partial)] == partial and len(lines) == 4  # resumed, nothing generated twice


def _record(model: str, params: int, value: float, shots: list[int], asserts: int = 3,
            protocol: str = "paper", family: str = "f", style: str = "paper") -> CellRecord:
    values = {"model": model, "shot_ids": shots, "asserts_shown": asserts, "protocol": protocol, "prompt_style": style}
    return CellRecord(f"{model}-{shots}-{asserts}-{protocol}", "/nowhere", values, {}, model, family, params,
                      protocol, CellStatus.DONE, Estimate(value, max(0.0, value - 0.1), min(1.0, value + 0.1)),
                      10, 10, 1.0)


def test_the_study_view_renders_every_figure(tmp_path: Path) -> None:
    cells = [_record("s", 100_000_000, 0.10, [2, 3, 4]), _record("m", 200_000_000, 0.20, [2, 3, 4]),
             _record("l", 400_000_000, 0.30, [2, 3, 4]), _record("g", 270_000_000, 0.05, [2, 3, 4], family="g"),
             _record("m", 200_000_000, 0.25, [1, 5, 6]), _record("m", 200_000_000, 0.15, [7, 8, 9]),
             _record("m", 200_000_000, 0.12, [2, 3, 4], asserts=0),
             _record("m", 200_000_000, 0.18, [2, 3, 4], asserts=1),
             _record("m", 200_000_000, 0.22, [2, 3, 4], protocol="bigcode"),
             CellRecord("pending-one", "/x", {"model": "xl"}, {}, "xl", "f", 800_000_000, "paper")]
    summary = SweepSummary("synthetic", "synthetic.toml", ("model", "shot_ids", "asserts_shown", "protocol"),
                           tuple(cells))
    fits = fit_families([c for c in cells if c.values.get("asserts_shown") == 3 and c.values["shot_ids"] == [2, 3, 4]
                         and c.protocol == "paper"])
    assert [f.family for f in fits] == ["f", "all models"]  # family "g" has one size: no line of its own
    assert fits[0].slope == pytest.approx(0.10)  # +10 points per doubling
    assert spread_rows(summary)[0][1:3] == (3, 0.15)
    files = write_study(summary, tmp_path)
    assert {p.name for p in files.plots} == {"scaling", "prompt_spread", "asserts_shown", "protocols"}
    assert all(p.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.svg.is_file() for p in files.plots)
    page = files.html.read_text()
    assert page.count("data:image/png;base64,") == 4 and "+10.00" in page and "pending-one" in page


def test_the_cli_renders_the_study_of_a_real_sweep(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from progsynth.cli.main import cli

    config = tmp_path / "s.toml"
    config.write_text(BASE + "shot_ids = [[2, 3, 4], {random = 2, seed = 3}]\n")
    out = tmp_path / "out"
    dry = CliRunner().invoke(cli, ["sweep", str(config), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0 and dry.output.count("pending") == 6 and not out.exists()
    result = CliRunner().invoke(cli, ["sweep", str(config), "--out", str(out), "--report", "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "study.html").is_file() and (out / "study_plots" / "scaling.png").is_file()
    assert (out / "study_plots" / "prompt_spread.png").is_file()
    only = CliRunner().invoke(cli, ["sweep", str(config), "--out", str(out), "--report-only"])
    assert only.exit_code == 0 and "study.html" in only.output
    (out / "study.html").unlink()
    via_report = CliRunner().invoke(cli, ["report", str(out)])  # the one report command knows a sweep
    assert via_report.exit_code == 0 and (out / "study.html").is_file(), via_report.output


def test_a_paper_vs_chat_study_names_each_prompt_style(tmp_path: Path) -> None:
    """``chat`` is no protocol preset (both styles' cells would read ``custom``): the protocol
    figure names the prompt style of a custom cell, so paper vs chat is a figure of its own."""
    cells = []
    for style, protocol, value in (("paper", "paper", 0.30), ("chat", "custom", 0.275)):
        for model, params in (("q0.5", 494_000_000), ("q1.5", 1_540_000_000)):
            cells.append(_record(model, params, value + (0.2 if model == "q1.5" else 0), [2, 3, 4],
                                 protocol=protocol, style=style))
    summary = SweepSummary("pair", "pair.toml", ("model", "prompt_style"), tuple(cells))
    files = write_study(summary, tmp_path)
    assert "protocols" in {p.name for p in files.plots}
    svg = (tmp_path / "study_plots" / "protocols.svg").read_text()
    assert "<!-- custom (chat) -->" in svg and "<!-- paper -->" in svg and "<!-- custom -->" not in svg
