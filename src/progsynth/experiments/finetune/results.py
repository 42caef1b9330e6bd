"""What a fine-tuning run reports: the typed summary (``finetune.json``) and the loss curve.

The curve is a JSONL file with one record per optimiser step (``kind: "train"``) and one per
validation (``kind: "val"``), appended as training goes so it survives a kill; a resume cuts the
records after the restored step, so the file always describes the weights that exist. The PNG is
drawn from it when matplotlib is installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from progsynth.errors import DataError
from progsynth.experiments.finetune.config import CURVE_FILE, CURVE_PNG
from progsynth.store.jsonl import JsonlWriter, iter_records

SCHEMA = "progsynth.finetune/1"


class Curve:
    """The loss-curve file of an output directory, opened for appending on first use."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / CURVE_FILE
        self._writer: JsonlWriter | None = None

    def truncate(self, step: int) -> None:
        """Keep only the records of steps up to ``step`` (what a restored checkpoint has done)."""
        if not self.path.exists():
            return
        kept = [r for _, r in iter_records(self.path) if int(r.get("step", 0)) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with JsonlWriter(tmp) as out:
            for record in kept:
                out.append(record)
        os.replace(tmp, self.path)

    def _append(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            self._writer = JsonlWriter(self.path)
        self._writer.append(record)

    def train(self, step: int, epoch: float, loss: float, lr: float, tokens: int, tok_s: float) -> None:
        self._append({"kind": "train", "step": step, "epoch": round(epoch, 4), "loss": loss, "lr": lr,
                      "tokens": tokens, "tok_s": round(tok_s, 2)})

    def validation(self, step: int, loss: float) -> None:
        self._append({"kind": "val", "step": step, "val_loss": loss})

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_curve(path: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """``(train, validation)`` as (step, loss) pairs."""
    train: list[tuple[int, float]] = []
    val: list[tuple[int, float]] = []
    for _, r in iter_records(path):
        if r.get("kind") == "val":
            val.append((int(r["step"]), float(r["val_loss"])))
        else:
            train.append((int(r["step"]), float(r["loss"])))
    return train, val


def plot_curve(out_dir: Path) -> Path | None:
    """``curve.png`` beside ``curve.jsonl``, or None when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is None or not (out_dir / CURVE_FILE).exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = read_curve(out_dir / CURVE_FILE)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    if train:
        ax.plot(*zip(*train, strict=True), label="train (per step)", linewidth=1)
    if val:
        ax.plot(*zip(*val, strict=True), marker="o", label="validation")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss per target token")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    target = out_dir / CURVE_PNG
    fig.savefig(target)
    plt.close(fig)
    return target


@dataclass(frozen=True)
class FinetuneResults:
    """The summary of one fine-tuning run: what was trained on what, and how it went.

    ``config`` is the training configuration (``FinetuneConfig.to_json()``), ``base`` the base
    model's record (``BaseModel.to_json()``); ``trained_split`` is repeated at the top level because
    evaluation must refuse it.
    """

    created: str
    config: Mapping[str, Any]
    base: Mapping[str, Any]
    benchmark: str
    trained_split: str
    device: str
    dtype: str
    trainable_parameters: int
    total_parameters: int
    train_examples: int
    val_examples: int
    truncated_examples: int
    steps: int
    epochs: float
    train_tokens: int
    train_seconds: float
    tokens_per_second: float
    val_seconds: float
    peak_memory_mb: float
    best_step: int | None
    best_val_loss: float | None
    initial_val_loss: float | None
    final_train_loss: float | None
    adapter_gguf: str | None
    model_gguf: str | None = None
    environment: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FinetuneResults:
        if data.get("schema") != SCHEMA:
            raise DataError("finetune.json", f"expected schema {SCHEMA}, got {data.get('schema')!r}")
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def summary_lines(r: FinetuneResults) -> list[str]:
    """The terminal summary of a fine-tuning run."""
    def loss(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [
        f"fine-tuned {r.base.get('name')} on {r.benchmark}/{r.trained_split}: {r.steps} steps "
        f"({r.epochs:g} epochs) over {r.train_examples} examples, {r.trainable_parameters:,} trainable parameters "
        f"of {r.total_parameters:,}",
        f"loss: last step {loss(r.final_train_loss)}; validation {loss(r.initial_val_loss)} before, "
        f"best {loss(r.best_val_loss)} at step {r.best_step}",
        f"speed: {r.tokens_per_second:.1f} tokens/s on {r.device} ({r.dtype}), {r.train_seconds:.0f} s training, "
        f"{r.val_seconds:.0f} s validation, peak memory {r.peak_memory_mb:.0f} MB",
    ]
    extras = ((r.truncated_examples, f"{r.truncated_examples} examples were cut to --max-len"),
              (r.adapter_gguf, f"adapter for llama.cpp: {r.adapter_gguf}"),
              (r.model_gguf, f"model for llama.cpp: {r.model_gguf}"))
    return lines + [text for present, text in extras if present]
