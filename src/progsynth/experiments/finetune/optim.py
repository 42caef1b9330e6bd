"""Optimiser and learning-rate schedule, kept apart so they can be checkpointed and tested alone.

AdamW over the trainable parameters only (with LoRA: the adapters, kept in float32 by peft even
when the base is bfloat16, so the optimiser's small updates are not rounded away). The schedule is
a linear warm-up followed by a cosine decay to ``floor`` of the peak over the planned steps; the
planned steps are what the run will really do (``max_steps`` included), so a short run still ends
at a low rate instead of stopping mid-plateau.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from progsynth.backends.common import require_module


def trainable_parameters(model: Any) -> list[Any]:
    return [p for p in model.parameters() if p.requires_grad]


def build_optimizer(model: Any, lr: float, weight_decay: float) -> Any:
    """AdamW over the parameters that train; biases and norms get no weight decay."""
    torch = require_module("torch", "finetune", "fine-tuning")
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.999), eps=1e-8)


def warmup_cosine(total_steps: int, warmup_fraction: float, floor: float = 0.1) -> Callable[[int], float]:
    """The multiplier of the peak rate before optimiser step ``step`` (0-based)."""
    warmup = max(1, round(total_steps * warmup_fraction)) if warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        span = max(1, total_steps - warmup)
        progress = min(1.0, (step - warmup) / span)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_scheduler(optimizer: Any, total_steps: int, warmup_fraction: float) -> Any:
    torch = require_module("torch", "finetune", "fine-tuning")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, warmup_fraction))
