"""A LoRA folded into its base: one plain transformers checkpoint (``W + alpha/rank * B @ A``).

Serving through llama.cpp does not need this (it applies the GGUF adapter at load time), but the
transformers backend, other toolkits and a later full GGUF conversion want ordinary weights. The
merged checkpoint is written through a temporary folder renamed into place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from progsynth.backends.common import require_module
from progsynth.experiments.finetune.base import load, save_folder


def merge_loaded(model: Any) -> Any:
    """The base model of a peft model with its LoRA weights added in (the adapter is removed)."""
    return model.merge_and_unload()


def merge_adapter(base_checkpoint: Path, adapter_dir: Path, target: Path, dtype: str = "bfloat16") -> Path:
    """Load ``base_checkpoint``, apply the peft adapter in ``adapter_dir``, save the merge to ``target``."""
    peft = require_module("peft", "finetune", "LoRA merging")
    tokenizer, base = load(base_checkpoint, "cpu", dtype)
    merged = merge_loaded(peft.PeftModel.from_pretrained(base, str(adapter_dir)))

    def write(tmp: Path) -> None:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return save_folder(target, write)
