"""The model to fine-tune: the embedded GGUF (dequantized once and cached) or a local checkpoint.

No model hub is reachable here, so the trainable base of the default is the served GGUF itself:
transformers dequantizes it (about 50 s for the 0.5B model), and the result is saved once as a
bfloat16 safetensors checkpoint under the progsynth cache, which later loads in about a second.
transformers refuses to save a GGUF-loaded model while its quantizer is attached, so the quantizer
and quantization config are cleared first. Training the GGUF's own weights (rather than an upstream
checkpoint) is also what makes the adapter fit the model llama.cpp serves.

The cache is keyed by the GGUF's sha256 and written through a temporary folder that is renamed into
place, so an interrupted conversion never leaves a folder that looks finished.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.backends.common import require_module
from progsynth.backends.models import ALIASES, cache_dir, resolve_model, sha256_file
from progsynth.errors import BackendError, UsageError

_DONE_MARKER = "progsynth-base.json"


@dataclass(frozen=True)
class BaseModel:
    """A trainable transformers checkpoint and, when it came from one, the GGUF it mirrors (the
    file llama.cpp must load under the adapter)."""

    name: str
    checkpoint: Path
    gguf: Path | None
    gguf_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "checkpoint": str(self.checkpoint),
                "gguf": str(self.gguf) if self.gguf else None, "gguf_sha256": self.gguf_sha256}


def resolve_base(ref: str | None) -> BaseModel:
    """``None`` or a model alias: the embedded GGUF; a ``.gguf`` file: that file; a directory: a
    transformers checkpoint used as it is (its adapter then needs a GGUF of the same weights)."""
    if ref is not None and Path(ref).expanduser().is_dir():
        path = Path(ref).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise UsageError(f"--base {path}: not a transformers checkpoint (no config.json)")
        return BaseModel(path.name, path, None, None)
    if ref is not None and ref.lower() not in ALIASES and not Path(ref).expanduser().is_file():
        raise UsageError(f"--base {ref}: no such checkpoint directory, GGUF file or model alias")
    gguf = resolve_model(ref)
    digest = gguf.sha256 or sha256_file(gguf.path)
    return BaseModel(gguf.name, converted_checkpoint(gguf.path, digest), gguf.path, digest)


def converted_checkpoint(gguf: Path, digest: str, cache: Path | None = None) -> Path:
    """The bfloat16 transformers copy of ``gguf``, converted on first use."""
    target = (cache or cache_dir().parent / "finetune-bases") / f"{gguf.stem}-{digest[:12]}"
    if (target / _DONE_MARKER).is_file():
        return target
    torch = require_module("torch", "finetune", "fine-tuning")
    tf = require_module("transformers", "finetune", "fine-tuning")
    tf.utils.logging.disable_progress_bar()

    def write(tmp: Path) -> None:
        try:
            model = tf.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                            dtype=torch.bfloat16)
            tokenizer = tf.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise BackendError(f"transformers cannot load {gguf}: {str(exc).splitlines()[0][:300]}") from None
        model.hf_quantizer = None  # save_pretrained refuses a model with a quantizer attached
        vars(model.config).pop("quantization_config", None)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE_MARKER).write_text(json.dumps({"gguf": str(gguf), "sha256": digest}) + "\n")

    save_folder(target, write)
    return target


def save_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write`` on a fresh temporary sibling of ``target``, then rename it into place, so a
    folder at ``target`` is always complete (an interrupted write leaves only a ``.partial`` one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".partial", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def pick_device(wanted: str) -> str:
    """``auto``: the GPU when torch sees one, else the CPU; an unavailable GPU is a UsageError."""
    torch = require_module("torch", "finetune", "fine-tuning")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {wanted}: torch sees no CUDA GPU")
    return wanted


def pick_dtype(wanted: str, device: str) -> str:
    """``auto``: bfloat16 where the hardware computes it natively, else float32.

    On CPU bfloat16 matmuls need AVX512-BF16 or AMX (measured here: about twice fp32's speed and
    half its memory); elsewhere torch emulates them, slower than float32.
    """
    if wanted != "auto":
        return wanted
    torch = require_module("torch", "finetune", "fine-tuning")
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return "bfloat16" if native else "float32"


def load(checkpoint: Path, device: str, dtype: str) -> tuple[Any, Any]:
    """``(tokenizer, model)`` from a local checkpoint, on ``device`` in ``dtype``."""
    tf = require_module("transformers", "finetune", "fine-tuning")
    tf.utils.logging.disable_progress_bar()  # the command draws its own progress line
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=True)
        model = tf.AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch_dtype(dtype),
                                                        local_files_only=True)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load {checkpoint}: {str(exc).splitlines()[0][:300]}") from None
    return tokenizer, model.to(device)


def torch_dtype(name: str) -> Any:
    """The torch dtype called ``name`` (one of the names ``FinetuneConfig`` accepts)."""
    torch = require_module("torch", "finetune", "fine-tuning")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]
