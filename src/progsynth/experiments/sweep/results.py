"""``DIR/sweep.json``: the typed summary of a sweep (schema ``progsynth.sweep/1``).

One record per cell: its settings, directory, status, pass@1 with its 95% interval, the model's
parameter count and family, and how long the cell took. It is rewritten (atomically) after every
cell, so a killed sweep leaves a summary that says what is done; the run directories stay the truth
and the summary is rebuilt from them on every start.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from progsynth.errors import DataError
from progsynth.metrics import Estimate
from progsynth.store.jsonl import write_json_atomic

SCHEMA = "progsynth.sweep/1"
SUMMARY_FILE = "sweep.json"


class CellStatus(enum.Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class CellRecord:
    """One cell as the summary and the study view see it."""

    name: str
    dir: str
    values: Mapping[str, Any]
    config: Mapping[str, Any]
    model: str
    family: str
    params: int | None
    protocol: str
    status: CellStatus = CellStatus.PENDING
    pass_at_1: Estimate | None = None
    tasks: int = 0
    samples: int = 0
    run_time_s: float | None = None
    error: str | None = None
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dir": self.dir, "values": dict(self.values), "config": dict(self.config),
                "model": self.model, "family": self.family, "params": self.params, "protocol": self.protocol,
                "status": self.status.value,
                "pass@1": self.pass_at_1.to_json() if self.pass_at_1 is not None else None,
                "tasks": self.tasks, "samples": self.samples, "run_time_s": self.run_time_s, "error": self.error,
                "command": self.command}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellRecord:
        p1 = data.get("pass@1")
        estimate = Estimate(float(p1["value"]), float(p1["ci95"][0]), float(p1["ci95"][1])) if p1 else None
        params = data.get("params")
        return cls(str(data["name"]), str(data["dir"]), dict(data["values"]), dict(data["config"]),
                   str(data["model"]), str(data.get("family") or ""), None if params is None else int(params),
                   str(data.get("protocol") or "custom"), CellStatus(data["status"]), estimate,
                   int(data.get("tasks", 0)), int(data.get("samples", 0)), data.get("run_time_s"),
                   data.get("error"), str(data.get("command", "")))


@dataclass(frozen=True)
class SweepSummary:
    """The whole sweep: where it came from, which options vary, and every cell in running order."""

    name: str
    config_file: str
    axes: tuple[str, ...]
    cells: tuple[CellRecord, ...]
    models: Mapping[str, Any] = field(default_factory=dict)  # registry rows of the models used

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "name": self.name, "config_file": self.config_file, "axes": list(self.axes),
                "counts": {s.value: sum(c.status is s for c in self.cells) for s in CellStatus},
                "models": dict(self.models), "cells": [c.to_json() for c in self.cells]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: object = SUMMARY_FILE) -> SweepSummary:
        if data.get("schema") != SCHEMA:
            raise DataError(source, f"expected schema {SCHEMA}, got {data.get('schema')!r}", field="schema")
        try:
            return cls(str(data["name"]), str(data["config_file"]), tuple(data["axes"]),
                       tuple(CellRecord.from_json(c) for c in data["cells"]), dict(data.get("models") or {}))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(source, f"malformed sweep summary ({type(exc).__name__}: {exc})") from None

    def write(self, out_dir: Path) -> Path:
        path = out_dir / SUMMARY_FILE
        write_json_atomic(path, self.to_json())
        return path


def read_summary(path: Path) -> SweepSummary:
    """A sweep summary from ``path`` (the sweep directory or its ``sweep.json``)."""
    file = path / SUMMARY_FILE if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(file, "no sweep summary here (run `progsynth sweep CONFIG --out DIR` first)") from None
    except ValueError as exc:
        raise DataError(file, f"not valid JSON ({exc})") from None
    return SweepSummary.from_json(data, file)
