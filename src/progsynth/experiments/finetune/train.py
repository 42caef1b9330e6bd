"""The training loop: fixed data order, completion-only loss, validation, best checkpoint, resume.

Each example is forwarded alone (no padding to compute: on a CPU padding is pure waste) and only
the logits of the target positions are computed (``logits_to_keep``): with a 150k-token vocabulary
the full logits of a 3-shot prompt would cost more memory than the model. A step's loss is the sum
of its examples' token losses divided by the step's target tokens, so every target token weighs the
same whatever the example's length.

With few-shot prompts every example starts with the same worked examples. With ``prefix_cache`` their
keys and values are computed once per optimiser step (under the step's weights, without dropout and
without gradient) and each example runs only its own task and target on top of them: the losses are
the same as without the cache, and the gradient leaves out only how the adapter would change the
shots' own keys and values. A 3-shot step then costs about what a 0-shot step does, plus one forward
pass over the shots.

The order of epoch ``e`` is a permutation drawn from the seed and ``e``, so a resumed run continues with
exactly the batches it would have seen. Interrupting (Ctrl-C) between two steps saves a checkpoint
first; the same command then resumes from it.
"""

from __future__ import annotations

import copy
import math
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from progsynth.backends.common import require_module
from progsynth.experiments.finetune import checkpoint
from progsynth.experiments.finetune.checkpoint import TrainState
from progsynth.experiments.finetune.config import CHECKPOINT_DIR, FinetuneConfig
from progsynth.experiments.finetune.data import Example, ExampleSet
from progsynth.experiments.finetune.optim import build_optimizer, build_scheduler, trainable_parameters
from progsynth.experiments.finetune.results import Curve
from progsynth.run.progress import _clock

#: Called with the model whenever the validation loss improves (writes the "best" weights).
SaveBest = Callable[[Any], None]


@dataclass(frozen=True)
class Plan:
    """How many optimiser steps an epoch has and how many the run will do."""

    examples: int
    batch_size: int
    epochs: int
    max_steps: int | None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.examples / self.batch_size)

    @property
    def total_steps(self) -> int:
        full = self.steps_per_epoch * self.epochs
        return min(full, self.max_steps) if self.max_steps else full

    def epoch_of(self, step: int) -> int:
        """The 0-based epoch that 0-based step ``step`` belongs to."""
        return step // self.steps_per_epoch


def epoch_order(seed: int, epoch: int, n: int) -> list[int]:
    """The example order of ``epoch``: a permutation that depends only on the seed and the epoch."""
    torch = require_module("torch", "finetune", "fine-tuning")
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    return [int(i) for i in torch.randperm(n, generator=generator)]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def peak_memory_mb(device: str) -> float:
    """Peak resident memory of this process (CPU), or peak allocated GPU memory (CUDA)."""
    if device.startswith("cuda"):
        torch = require_module("torch", "finetune", "fine-tuning")
        return float(torch.cuda.max_memory_allocated()) / 2**20
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2**20


class Trainer:
    """Trains ``model`` (its ``requires_grad`` weights) on ``train``; see the module docstring."""

    def __init__(self, cfg: FinetuneConfig, model: Any, train: ExampleSet, val: ExampleSet | None, *,
                 device: str, save_best: SaveBest, amp_dtype: Any = None, stream: TextIO | None = None,
                 show_progress: bool = True) -> None:
        self.torch = require_module("torch", "finetune", "fine-tuning")
        self.cfg, self.model, self.train, self.val = cfg, model, train, val
        self.device, self.save_best, self.amp_dtype = device, save_best, amp_dtype
        self.plan = Plan(len(train.examples), cfg.batch_size, cfg.epochs, cfg.max_steps)
        self.optimizer = build_optimizer(model, cfg.learning_rate, cfg.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, self.plan.total_steps, cfg.warmup)
        self.folder: Path = cfg.out_dir / CHECKPOINT_DIR
        self.curve = Curve(cfg.out_dir)
        self.stream = stream if stream is not None else sys.stderr
        self.show_progress = show_progress
        self.state = TrainState()
        self.resumed_from: int | None = None
        self.updating = False
        self._prefixes: dict[tuple[int, ...], Any] = {}
        self._cache_keyword = "past_key_values"

    # --- resume ------------------------------------------------------------------------------------

    def resume(self) -> None:
        """Continue from the newest complete checkpoint, if there is one."""
        found = checkpoint.find(self.folder)
        if found is not None:
            self.state = checkpoint.restore(found, self.model, self.optimizer, self.scheduler)
            self.resumed_from = self.state.step
            if self.show_progress:
                self.stream.write(f"finetune: resuming at step {self.state.step} of {self.plan.total_steps}\n")
        self.curve.truncate(self.state.step)

    def save(self) -> None:
        checkpoint.save(self.folder, self.model, self.optimizer, self.scheduler, self.state)

    # --- one step ----------------------------------------------------------------------------------

    def batch(self, step: int) -> list[Example]:
        epoch, index = self.plan.epoch_of(step), step % self.plan.steps_per_epoch
        order = epoch_order(self.cfg.seed, epoch, self.plan.examples)
        chosen = order[index * self.cfg.batch_size:(index + 1) * self.cfg.batch_size]
        return [self.train.examples[i] for i in chosen]

    def _autocast(self) -> Any:
        return self.torch.autocast(self.device.split(":")[0], dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def prefix(self, ids: tuple[int, ...]) -> Any:
        """A fresh copy of the cached keys and values of the shots ``ids`` under the current weights."""
        torch = self.torch
        if ids not in self._prefixes:
            training = self.model.training
            self.model.eval()  # no dropout in the one pass every example of the step shares
            with torch.no_grad(), self._autocast():
                out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
            self.model.train(training)
            # transformers 5.2x renamed the KV cache (output and keyword) from past_key_values to cache
            self._cache_keyword = "cache" if "cache" in out else "past_key_values"
            self._prefixes[ids] = out[self._cache_keyword]
        return copy.deepcopy(self._prefixes[ids])  # each example appends its own tokens to its copy

    def example_loss(self, example: Example) -> Any:
        """The summed cross-entropy of ``example``'s target tokens (a 0-d tensor)."""
        torch = self.torch
        start = example.prefix_len if self.cfg.prefix_cache else 0
        past = self.prefix(example.input_ids[:start]) if start else None
        ids = torch.tensor([example.input_ids[start:]], device=self.device)
        keep = example.target_tokens + 1  # the logits that predict the target tokens, plus the last
        cache = {self._cache_keyword: past, "use_cache": True} if past is not None else {"use_cache": False}
        with self._autocast():
            out = self.model(input_ids=ids, logits_to_keep=keep, **cache)
        targets = torch.tensor(example.input_ids[example.prompt_len:], device=self.device)
        return torch.nn.functional.cross_entropy(out.logits[0, :-1].float(), targets, reduction="sum")

    def step(self, step: int) -> tuple[float, int]:
        """One optimiser update; returns the mean target-token loss and the tokens forwarded."""
        self.model.train()
        batch = self.batch(step)
        denominator = sum(e.target_tokens for e in batch)
        total = 0.0
        for example in batch:
            loss = self.example_loss(example)
            (loss / denominator).backward()
            total += float(loss.detach())
        self.torch.nn.utils.clip_grad_norm_(trainable_parameters(self.model), 1.0)
        tokens = sum(len(e.input_ids) for e in batch)
        self.updating = True  # until the counters match the weights again, an interrupt saves nothing
        self.optimizer.step()
        self.scheduler.step()
        self.state.step += 1
        self.state.tokens += tokens
        self.state.target_tokens += denominator
        self.updating = False
        self._prefixes.clear()  # the weights changed
        self.optimizer.zero_grad(set_to_none=True)
        return total / denominator, tokens

    def validate(self) -> float:
        """Mean loss per target token over the validation examples (dropout off)."""
        assert self.val is not None
        started = time.monotonic()
        self.model.eval()
        total = 0.0
        self._prefixes.clear()
        with self.torch.no_grad():  # not inference_mode: the cached shots may later meet autograd
            for example in self.val.examples:
                total += float(self.example_loss(example))
        self._prefixes.clear()
        self.state.val_seconds += time.monotonic() - started
        return total / self.val.target_tokens

    # --- the loop ----------------------------------------------------------------------------------

    def run(self) -> TrainState:
        """Train to the planned step count, validating, keeping the best weights and checkpointing.

        SIGTERM (``kill``, a job scheduler's stop) is handled like Ctrl-C while the loop runs: the
        last finished step is checkpointed before the process ends.
        """
        if self.state.step == 0:
            self._evaluate(0)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            self._loop()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if self.val is None:
            self.save_best(self.model)
            self.state.best_step = self.state.step
        elif self.state.last_val_step != self.state.step:  # resumed with a shorter --max-steps
            self._evaluate(self.state.step)
            self.save()
        self.curve.close()
        return self.state

    def _loop(self) -> None:
        """The steps; an interrupt anywhere between two steps checkpoints the last finished one."""
        session_start, session_tokens, first = time.monotonic(), 0, self.state.step
        while self.state.step < self.plan.total_steps:
            try:
                started = time.monotonic()
                loss, tokens = self.step(self.state.step)
                elapsed = time.monotonic() - started
                self.state.seconds += elapsed
                self.state.peak_memory_mb = max(self.state.peak_memory_mb, peak_memory_mb(self.device))
                session_tokens += tokens
                rate = session_tokens / max(time.monotonic() - session_start, 1e-9)
                self.curve.train(self.state.step, self.state.step / self.plan.steps_per_epoch, loss,
                                 self.scheduler.get_last_lr()[0], tokens, tokens / max(elapsed, 1e-9))
                self._after_step(loss, rate, (time.monotonic() - session_start) / (self.state.step - first))
            except KeyboardInterrupt:
                if not self.updating:  # the weights and counters are those of the last finished step
                    self.optimizer.zero_grad(set_to_none=True)  # a half-accumulated step is dropped
                    self.save()
                raise

    def _after_step(self, loss: float, rate: float, seconds_per_step: float) -> None:
        step, plan, every = self.state.step, self.plan, self.cfg.eval_every
        if step == plan.total_steps or step % plan.steps_per_epoch == 0 or (every and step % every == 0):
            self._evaluate(step)
        if step == plan.total_steps or step % self.cfg.save_every == 0:
            self.save()
        self._draw(loss, rate, seconds_per_step * (plan.total_steps - step))

    def _evaluate(self, step: int) -> None:
        if self.val is None:
            return
        val = self.validate()
        self.state.last_val, self.state.last_val_step = val, step
        self.curve.validation(step, val)
        if step > 0 and (self.state.best_val is None or val < self.state.best_val):
            self.state.best_val, self.state.best_step = val, step
            self.save_best(self.model)

    def _draw(self, loss: float, rate: float, eta: float) -> None:
        if not self.show_progress:
            return
        s = self.state
        parts = [f"finetune: step {s.step}/{self.plan.total_steps}",
                 f"epoch {self.plan.epoch_of(max(s.step - 1, 0)) + 1}/{self.cfg.epochs}", f"loss {loss:.4f}"]
        if s.last_val is not None:
            best = f" (best {s.best_val:.4f} @{s.best_step})" if s.best_val is not None else ""
            parts.append(f"val {s.last_val:.4f}{best}")
        parts += [f"{rate:.1f} tok/s", f"{peak_memory_mb(self.device):.0f} MB peak", _clock(s.seconds),
                  f"eta {_clock(eta)}"]
        self.stream.write(" | ".join(parts) + "\n")
        self.stream.flush()
