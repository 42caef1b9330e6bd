"""The training configuration, validated once and frozen, and the output directory's layout.

What identifies a training run is defined here and nowhere else (``identity``): a resume must match
it, because the data order, the schedule and the adapter's shapes all follow from it. Left out: the
device and the data directory (moving a run to a GPU, or the data to another folder, does not change
what is trained) and the run's length and bookkeeping (``RESUMABLE_CHANGES``): a run may be resumed
with another ``--max-steps`` or ``--epochs`` to stop it early or to train on, and the learning rate
then follows the schedule of the new length from the step reached.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle
from progsynth.errors import DataError, UsageError
from progsynth.experiments.exec_predict.prompts import Condition
from progsynth.run.config import to_jsonable

CONFIG_SCHEMA = "progsynth.finetune.config/1"

#: Files and folders of an output directory (the adapter is the best checkpoint's).
CONFIG_FILE = "finetune-config.json"
RESULTS_FILE = "finetune.json"
ADAPTER_DIR = "adapter"
MODEL_DIR = "model"  # full fine-tuning: the best weights as a transformers checkpoint
ADAPTER_GGUF = "adapter.gguf"
MODEL_GGUF = "model.gguf"  # full fine-tuning from a GGUF base: the best weights for llama.cpp
CHECKPOINT_DIR = "checkpoint"
CURVE_FILE = "curve.jsonl"
CURVE_PNG = "curve.png"

#: The default prompt format: the paper's and ``progsynth run``'s three shots, so the tuned model is
#: scored in the format it was trained in and beside its base's usual score. Three-shot sequences are
#: about four times longer than zero-shot ones, but their shots are the same for every task, so the
#: prefix cache (``train``) computes them once per step instead of once per example. ``--shots 0``
#: trains (and must then evaluate) without worked examples.
DEFAULT_SHOTS = 3


class Method(enum.Enum):
    LORA = "lora"
    FULL = "full"


class Target(enum.Enum):
    """What the model learns to write: the task's code, or a program's output (execution prediction)."""

    CODE = "code"
    EXEC_PREDICT = "exec-predict"


@dataclass(frozen=True)
class ExecPredictPrompt(PromptConfig):
    """The prompt of ``--target exec-predict``: execution-prediction prompts in ``condition``, with
    ``shots`` worked prompt-pool examples under FEW_SHOT (0 otherwise). It is a ``PromptConfig``
    because the target decides what the prompt is, and every stage that builds examples (``data``)
    or records the configuration already receives ``FinetuneConfig.prompt``."""

    condition: Condition = Condition.CODE

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.condition is Condition.FEW_SHOT) != (self.shots > 0):
            raise UsageError("--shots applies to exec-predict training only with --exec-condition few-shot "
                             f"(at least 1), got {self.shots} with {self.condition.value}")


#: Learning rates that work for each method (LoRA's small adapters take a much larger step).
DEFAULT_LR = {Method.LORA: 2e-4, Method.FULL: 2e-5}

#: Options a resume may change (see the module docstring).
RESUMABLE_CHANGES = ("max_steps", "epochs", "eval_every", "save_every")


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that determines what is trained; ``base`` None is the embedded default model.

    One step is one optimiser update over ``batch_size`` examples (each forwarded alone, so no
    padding is computed); an epoch is ``ceil(examples / batch_size)`` steps. ``max_steps`` cuts the
    schedule short: the learning rate then decays over ``max_steps``, not over the full epochs.
    """

    out_dir: Path
    benchmark: str = "mbpp"
    benchmark_options: Mapping[str, Any] = field(default_factory=dict)
    split: str = "train"
    val_split: str | None = "validation"  # None: no validation (the last step is kept)
    limit: int | None = None
    task_ids: tuple[str, ...] = ()
    val_limit: int | None = None
    prompt: PromptConfig = PromptConfig(shots=DEFAULT_SHOTS)
    base: str | None = None
    method: Method = Method.LORA
    rank: int = 16
    alpha: float | None = None  # None: 2 * rank
    dropout: float = 0.05
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 8
    lr: float | None = None  # None: DEFAULT_LR[method]
    warmup: float = 0.05  # fraction of the steps
    weight_decay: float = 0.0
    max_len: int = 1024
    seed: int = 1234
    dtype: str = "auto"  # auto: bfloat16 where the CPU (or GPU) computes it natively
    device: str = "auto"
    #: few-shot prompts: compute the shared shots once per step, without gradient through them
    prefix_cache: bool = True
    eval_every: int | None = None  # steps; None: at the end of each epoch (and of the run)
    save_every: int = 10  # steps between resumable checkpoints
    data: DataConfig = DataConfig()
    fresh: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.rank >= 1, f"--rank must be at least 1, got {self.rank}"),
            (self.alpha is None or self.alpha > 0, f"--alpha must be > 0, got {self.alpha}"),
            (0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}"),
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.max_steps is None or self.max_steps >= 1, f"--max-steps must be at least 1, got {self.max_steps}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.lr is None or self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (0 <= self.warmup < 1, f"--warmup must be in [0, 1), got {self.warmup}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (self.max_len >= 16, f"--max-len must be at least 16, got {self.max_len}"),
            (self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}"),
            (self.val_limit is None or self.val_limit >= 1, f"--val-limit must be at least 1, got {self.val_limit}"),
            (self.eval_every is None or self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
            (self.save_every >= 1, f"--save-every must be at least 1, got {self.save_every}"),
            (self.dtype in ("auto", "bfloat16", "float16", "float32"), f"unknown --dtype {self.dtype!r}"),
            (self.val_split != self.split, f"the validation split must differ from the training split ({self.split})"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    @property
    def target(self) -> Target:
        return Target.EXEC_PREDICT if isinstance(self.prompt, ExecPredictPrompt) else Target.CODE

    @property
    def lora_alpha(self) -> float:
        return self.alpha if self.alpha is not None else 2.0 * self.rank

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]

    def identity(self) -> dict[str, Any]:
        """What a resume must match: every field but the device, the data location, ``fresh`` and
        the ``RESUMABLE_CHANGES``."""
        out = self.to_json()
        for key in ("schema", "device", *RESUMABLE_CHANGES):
            out.pop(key, None)
        return out

    def to_json(self) -> dict[str, Any]:
        """Every setting (the recorded configuration of an output directory)."""
        out: dict[str, Any] = to_jsonable(self)
        for key in ("out_dir", "data", "fresh"):
            out.pop(key, None)
        return {"schema": CONFIG_SCHEMA, "target": self.target.value, **out}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], out_dir: Path) -> FinetuneConfig:
        """The configuration recorded in an output directory (the data location is the default)."""
        if data.get("schema") != CONFIG_SCHEMA:
            raise DataError(out_dir / CONFIG_FILE, f"expected schema {CONFIG_SCHEMA}, got {data.get('schema')!r}")
        known = {f.name for f in fields(cls)} - {"out_dir", "data", "fresh", "prompt", "method", "task_ids"}
        values = {k: v for k, v in data.items() if k in known}
        prompt = dict(data.get("prompt") or {})
        shot_ids = prompt.get("shot_ids")
        settings = PromptConfig(shots=int(prompt.get("shots", DEFAULT_SHOTS)),
                                shot_ids=tuple(shot_ids) if shot_ids is not None else None,
                                asserts_shown=int(prompt.get("asserts_shown", 3)),
                                style=PromptStyle(prompt.get("style", "paper")))
        if data.get("target", Target.CODE.value) == Target.EXEC_PREDICT.value:
            settings = ExecPredictPrompt(shots=settings.shots, condition=Condition(prompt.get("condition", "code")))
        return cls(
            out_dir=out_dir,
            prompt=settings,
            method=Method(data.get("method", Method.LORA.value)),
            task_ids=tuple(data.get("task_ids") or ()),
            **values,
        )
