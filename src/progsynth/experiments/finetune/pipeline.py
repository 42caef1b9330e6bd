"""``progsynth finetune`` end to end: base -> examples -> training -> adapter, GGUF, curve, summary.

The output directory is resumable like a run directory: its ``finetune-config.json`` is written
before training and a later invocation must match it (``--fresh`` starts over), the newest
checkpoint is restored, and the exports at the end are redone from the best weights, so running a
finished command again only rewrites its outputs.
"""

from __future__ import annotations

import datetime
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from progsynth.backends.common import require_module
from progsynth.errors import UsageError
from progsynth.experiments.finetune import base as bases
from progsynth.experiments.finetune.config import (
    ADAPTER_DIR,
    ADAPTER_GGUF,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CURVE_FILE,
    CURVE_PNG,
    MODEL_DIR,
    MODEL_GGUF,
    RESULTS_FILE,
    FinetuneConfig,
    Method,
)
from progsynth.experiments.finetune.data import ExampleSet, build_examples
from progsynth.experiments.finetune.gguf_export import export_lora
from progsynth.experiments.finetune.gguf_model import export_model
from progsynth.experiments.finetune.results import FinetuneResults, plot_curve, read_curve
from progsynth.experiments.finetune.train import Trainer, peak_memory_mb
from progsynth.machine import environment
from progsynth.store.jsonl import write_json_atomic

_OUTPUTS = (CONFIG_FILE, RESULTS_FILE, ADAPTER_DIR, MODEL_DIR, ADAPTER_GGUF, MODEL_GGUF, CHECKPOINT_DIR, CURVE_FILE,
            CURVE_PNG)


@dataclass(frozen=True)
class FinetuneOutput:
    results: FinetuneResults
    out_dir: Path

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS_FILE


def prepare_out(cfg: FinetuneConfig, base: bases.BaseModel) -> None:
    """Start over (``fresh``), or check that the directory was started with this configuration."""
    out = cfg.out_dir
    if cfg.fresh:
        for name in _OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
        for stale in out.glob(CHECKPOINT_DIR + ".*"):
            shutil.rmtree(stale, ignore_errors=True)
    recorded_path = out / CONFIG_FILE
    record = {**cfg.to_json(), "base_model": base.to_json()}
    if recorded_path.is_file():
        recorded = json.loads(recorded_path.read_text())
        theirs = FinetuneConfig.from_json(recorded, out).identity()
        ours = cfg.identity()
        changed = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        if changed:
            raise UsageError(f"{out} holds a fine-tuning run with other settings ({', '.join(changed)}); "
                             "rerun it with the same options, or pass --fresh or another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(recorded_path, record)


def wrap_model(cfg: FinetuneConfig, model: Any) -> Any:
    """LoRA on every linear layer (peft's ``all-linear``: attention and MLP, not the output head),
    adapters in float32; or, for full fine-tuning, every weight trainable."""
    torch = require_module("torch", "finetune", "fine-tuning")
    model.config.use_cache = False
    if cfg.method is Method.FULL:
        model.requires_grad_(True)
        return model
    peft = require_module("peft", "finetune", "LoRA fine-tuning")
    torch.manual_seed(cfg.seed)  # LoRA's A matrices start random: the same seed gives the same start
    lora = peft.LoraConfig(r=cfg.rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.dropout,
                           target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft reads a deprecated transformers property
        warnings.simplefilter("ignore", FutureWarning)
        return peft.get_peft_model(model, lora)


def examples(cfg: FinetuneConfig, tokenizer: Any) -> tuple[ExampleSet, ExampleSet | None]:
    options = dict(cfg.benchmark_options)
    train = build_examples(tokenizer, cfg.benchmark, options, cfg.split, cfg.prompt, cfg.data,
                           task_ids=cfg.task_ids, limit=cfg.limit, max_len=cfg.max_len)
    val = None
    if cfg.val_split is not None:
        val = build_examples(tokenizer, cfg.benchmark, options, cfg.val_split, cfg.prompt, cfg.data,
                             limit=cfg.val_limit, max_len=cfg.max_len)
    return train, val


def finetune(cfg: FinetuneConfig, *, stream: TextIO | None = None, show_progress: bool = True) -> FinetuneOutput:
    """Train (resuming), export the best weights and write the summary; see the module docstring."""
    torch = require_module("torch", "finetune", "fine-tuning")
    base = bases.resolve_base(cfg.base)
    prepare_out(cfg, base)
    device = bases.pick_device(cfg.device)
    dtype = bases.pick_dtype(cfg.dtype, device)
    # full fine-tuning keeps float32 master weights (bfloat16 rounds small updates away) and computes
    # in ``dtype`` under autocast; LoRA trains float32 adapters beside a frozen ``dtype`` base
    tokenizer, model = bases.load(base.checkpoint, device, "float32" if cfg.method is Method.FULL else dtype)
    train, val = examples(cfg, tokenizer)
    torch.manual_seed(cfg.seed)
    model = wrap_model(cfg, model)
    amp = bases.torch_dtype(dtype) if cfg.method is Method.FULL and dtype != "float32" else None
    trainer = Trainer(cfg, model, train, val, device=device, amp_dtype=amp, stream=stream,
                      save_best=lambda m: save_best(cfg, m, tokenizer), show_progress=show_progress)
    trainer.resume()
    state = trainer.run()
    gguf = export(cfg, base)
    plot_curve(cfg.out_dir)
    trained, val_curve = read_curve(cfg.out_dir / CURVE_FILE)
    results = FinetuneResults(
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        config=cfg.to_json(), base=base.to_json(), benchmark=cfg.benchmark, trained_split=cfg.split,
        device=device, dtype=dtype,
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total_parameters=sum(p.numel() for p in model.parameters()),
        train_examples=len(train.examples), val_examples=len(val.examples) if val else 0,
        truncated_examples=train.truncated, steps=state.step,
        epochs=round(state.step / trainer.plan.steps_per_epoch, 4), train_tokens=state.tokens,
        train_seconds=round(state.seconds, 2), tokens_per_second=round(state.tokens / max(state.seconds, 1e-9), 2),
        val_seconds=round(state.val_seconds, 2),
        peak_memory_mb=round(state.peak_memory_mb or peak_memory_mb(device), 1),
        best_step=state.best_step, best_val_loss=state.best_val,
        initial_val_loss=next((loss for step, loss in val_curve if step == 0), None),
        final_train_loss=trained[-1][1] if trained else None,
        adapter_gguf=str(gguf) if gguf and cfg.method is Method.LORA else None,
        model_gguf=str(gguf) if gguf and cfg.method is Method.FULL else None, environment=environment(),
    )
    write_json_atomic(cfg.out_dir / RESULTS_FILE, results.to_json())
    return FinetuneOutput(results, cfg.out_dir)


def save_best(cfg: FinetuneConfig, model: Any, tokenizer: Any) -> None:
    """The best weights so far: the peft adapter folder, or (full) a transformers checkpoint."""
    name = MODEL_DIR if cfg.method is Method.FULL else ADAPTER_DIR

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():  # peft calls a deprecated transformers property while saving
            warnings.simplefilter("ignore", FutureWarning)
            model.save_pretrained(tmp)
        if cfg.method is Method.FULL:
            tokenizer.save_pretrained(tmp)

    bases.save_folder(cfg.out_dir / name, write)


def export(cfg: FinetuneConfig, base: bases.BaseModel) -> Path | None:
    """The best weights in llama.cpp's format: the GGUF adapter (LoRA), or a whole GGUF model (full
    fine-tuning from a GGUF base; a checkpoint base has no GGUF to take the metadata from)."""
    if cfg.method is Method.LORA:
        model_config = json.loads((base.checkpoint / "config.json").read_text())
        return export_lora(cfg.out_dir / ADAPTER_DIR, model_config, cfg.out_dir / ADAPTER_GGUF)
    if base.gguf is None:
        return None
    _, best = bases.load(cfg.out_dir / MODEL_DIR, "cpu", "float32")
    return export_model(best, base.gguf, cfg.out_dir / MODEL_GGUF)
