"""What a fine-tuning output directory says about its adapter, read without torch.

Evaluation needs three facts from it: the GGUF adapter to load, the base model it was trained on
(an adapter loads silently onto any model of the same shapes, so the base's sha256 is checked) and
the split it was trained on, which must never be scored: a tuned model evaluated on its own training
tasks measures memory, not programming. MBPP and sanitized MBPP share their tasks, so training on
one's split taints the same split of the other; ``all`` taints every split.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.backends.models import resolve_model, sha256_file
from progsynth.benchmarks.base import ALL_SPLIT
from progsynth.errors import BackendError, DataError, UsageError
from progsynth.experiments.finetune.config import ADAPTER_GGUF, CONFIG_FILE, MODEL_GGUF

#: Benchmarks whose task ids name the same tasks.
FAMILIES: tuple[frozenset[str], ...] = (frozenset({"mbpp", "mbpp-sanitized"}),)


@dataclass(frozen=True)
class AdapterInfo:
    """The facts evaluation needs about a fine-tuned adapter (see the module docstring).

    ``gguf`` is the LoRA adapter, or (``whole``: full fine-tuning) the tuned model itself, which
    llama.cpp loads in place of the base.
    """

    out_dir: Path
    gguf: Path
    whole: bool
    benchmark: str
    trained_split: str
    shots: int
    base_gguf: Path | None
    base_sha256: str | None
    config: Mapping[str, Any]

    def check_base(self, model: Path, sha256: str | None) -> None:
        """Refuse a model other than the recorded base: an adapter loads onto any model of the same
        shapes without a word. ``sha256`` None: hashed here (a user's file that was not hashed)."""
        if self.base_sha256 is None:
            return
        actual = sha256 or sha256_file(model)
        if actual != self.base_sha256:
            raise BackendError(f"{self.gguf} was trained on a model with sha256 {self.base_sha256[:12]}..., "
                               f"not on {model} ({actual[:12]}...)")

    def describe(self) -> dict[str, Any]:
        """What a results file records about the adapter (with the whole training configuration)."""
        return {"tuned_model" if self.whole else "adapter": str(self.gguf), "finetune_dir": str(self.out_dir),
                "trained_on":
                f"{self.benchmark}/{self.trained_split}", "base_sha256": self.base_sha256,
                "finetune_config": dict(self.config)}


def read_adapter(path: str | Path) -> AdapterInfo:
    """The adapter of a ``progsynth finetune`` output directory (or of its ``adapter.gguf``), or its
    ``model.gguf`` after full fine-tuning."""
    given = Path(path).expanduser()
    out_dir = given.parent if given.is_file() else given
    config_path = out_dir / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except OSError:
        raise UsageError(f"{out_dir}: not a progsynth finetune directory (no {CONFIG_FILE})") from None
    except ValueError as exc:
        raise DataError(config_path, f"invalid JSON ({exc})") from None
    found = [given] if given.is_file() else [p for p in (out_dir / ADAPTER_GGUF, out_dir / MODEL_GGUF) if p.is_file()]
    if not found:
        raise UsageError(f"{out_dir}: neither {ADAPTER_GGUF} nor {MODEL_GGUF} (training unfinished?)")
    gguf = found[0]
    base = config.get("base_model") or {}
    return AdapterInfo(
        out_dir=out_dir.resolve(),
        gguf=gguf.resolve(),
        whole=gguf.name == MODEL_GGUF,
        benchmark=str(config["benchmark"]),
        trained_split=str(config["split"]),
        shots=int((config.get("prompt") or {}).get("shots", 0)),
        base_gguf=Path(base["gguf"]) if base.get("gguf") else None,
        base_sha256=base.get("gguf_sha256"),
        config=config,
    )


def same_tasks(a: str, b: str) -> bool:
    return a == b or any(a in family and b in family for family in FAMILIES)


def check_eval_split(trained_benchmark: str, trained_split: str, benchmark: str, split: str) -> None:
    """Refuse to score a model on the tasks it was trained on (UsageError naming both)."""
    if not same_tasks(trained_benchmark, benchmark):
        return
    if ALL_SPLIT in (trained_split, split) or trained_split == split:
        raise UsageError(
            f"the adapter was trained on {trained_benchmark} split '{trained_split}': evaluating it on "
            f"{benchmark} split '{split}' would score its own training tasks; choose another split"
        )


def check_for_run(adapter: str | Path, benchmark: str, split: str, shots: int) -> AdapterInfo:
    """What a run with ``adapter`` checks first: never its training split; a prompt with another
    number of shots than the training prompts is allowed but warned about (the tuned model learnt
    one format)."""
    info = read_adapter(adapter)
    check_eval_split(info.benchmark, info.trained_split, benchmark, split)
    if shots != info.shots:
        warnings.warn(f"{info.out_dir} was trained on {info.shots}-shot prompts; this run uses {shots} shots "
                      f"(pass --shots {info.shots} to evaluate it in its training format)", stacklevel=2)
    return info


def tuned_run_options(source: str | Path, options: Mapping[str, Any], benchmark: str, split: str,
                      shots: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The llama.cpp options that evaluate a ``progsynth finetune`` output directory, and what the
    results record about it (adapter, base, training configuration).

    A LoRA adapter goes on its recorded base (or on ``options["model"]``, which must be that base:
    an adapter loads onto any model of the same shapes without a word); a fully tuned model replaces
    the base. The training split is refused first.
    """
    info = check_for_run(source, benchmark, split, shots)
    out = dict(options)
    if info.whole:
        out["model"] = str(info.gguf)
        return out, info.describe()
    model = out.get("model") or info.base_gguf
    if model is None:
        raise UsageError(f"{info.out_dir} was trained from a transformers checkpoint: give the GGUF of the same "
                         "weights with --model to evaluate it with llama.cpp")
    resolved = resolve_model(model)
    info.check_base(resolved.path, resolved.sha256)
    out.update(model=str(resolved.path), lora=str(info.gguf))
    return out, info.describe()


def tuned_source(adapter: str | Path | None, model: str | Path | None) -> Path | None:
    """The fine-tuning output directory behind a run's ``adapter`` or ``model`` option, if any: the
    adapter itself, a finetune output directory given as the model, or the folder of a
    ``model.gguf`` written by full fine-tuning, so that a run refuses the training split whichever
    way the tuned model is given."""
    if adapter:
        return Path(adapter)
    if model and Path(model).is_dir() and (Path(model) / CONFIG_FILE).is_file():
        return Path(model)
    if model and Path(model).is_file() and (Path(model).parent / CONFIG_FILE).is_file():
        return Path(model).parent
    return None
