"""The resumable training state: trainable weights, optimiser, schedule, random state, counters.

A checkpoint is a folder written whole under a temporary name and then swapped in, and its
``state.json`` is written last, so a run killed at any instant leaves either the previous complete
checkpoint or the new one. The data order is not stored: it is a function of the seed and the
epoch (``train.epoch_order``), so the step counter says where to continue.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from progsynth.backends.common import require_module
from progsynth.errors import DataError
from progsynth.store.jsonl import write_json_atomic

STATE_FILE = "state.json"
WEIGHTS_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"


@dataclass
class TrainState:
    """Counters that survive a resume. ``seconds`` is training time (validation excluded);
    ``peak_memory_mb`` the highest peak of any session that trained (a later session that only
    rewrites the exports must not report its own, much smaller, peak)."""

    step: int = 0  # optimiser steps done
    best_val: float | None = None
    best_step: int | None = None
    last_val: float | None = None
    last_val_step: int | None = None
    tokens: int = 0  # forwarded (prompt and target)
    target_tokens: int = 0  # with a loss
    seconds: float = 0.0
    val_seconds: float = 0.0
    peak_memory_mb: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{k: data[k] for k in asdict(cls()) if k in data})


def save(folder: Path, model: Any, optimizer: Any, scheduler: Any, state: TrainState) -> None:
    """Write a complete checkpoint to ``folder`` (replacing any previous one atomically)."""
    torch = require_module("torch", "finetune", "fine-tuning")
    st = require_module("safetensors.torch", "finetune", "fine-tuning")
    new, old = folder.with_name(folder.name + ".new"), folder.with_name(folder.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    weights = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}
    st.save_file(weights, str(new / WEIGHTS_FILE))
    blob = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state()}
    if torch.cuda.is_available():
        blob["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(blob, new / OPTIMIZER_FILE)
    write_json_atomic(new / STATE_FILE, state.to_json())
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def find(folder: Path) -> Path | None:
    """The newest complete checkpoint: the folder itself, else a finished ``.new``/``.old`` copy
    left by a kill in the middle of the swap."""
    for candidate in (folder, folder.with_name(folder.name + ".new"), folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def restore(folder: Path, model: Any, optimizer: Any, scheduler: Any) -> TrainState:
    """Load a checkpoint written by ``save`` into the given objects; returns its counters."""
    torch = require_module("torch", "finetune", "fine-tuning")
    st = require_module("safetensors.torch", "finetune", "fine-tuning")
    try:
        state = TrainState.from_json(json.loads((folder / STATE_FILE).read_text()))
        weights = st.load_file(str(folder / WEIGHTS_FILE))
        blob = torch.load(folder / OPTIMIZER_FILE, weights_only=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DataError(folder, f"unreadable checkpoint ({exc}); rerun with --fresh to start over") from None
    params = dict(model.named_parameters())
    if set(weights) != {n for n, p in params.items() if p.requires_grad}:
        raise DataError(folder, "checkpoint does not match the model's trainable weights; rerun with --fresh")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["rng"])
    if "cuda_rng" in blob and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    return state
