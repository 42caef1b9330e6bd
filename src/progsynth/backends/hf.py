"""Hugging Face transformers: a local checkpoint directory (or a hub id, opt-in), CPU or GPU.

The n samples of a task are drawn in batches of ``batch_size`` copies of the prompt with
``num_return_sequences``. Nothing is downloaded unless ``download=True``: a run must never fetch
gigabytes silently, so a hub id without it fails with the command that fetches it first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from progsynth.backends.base import Backend
from progsynth.backends.common import require_module, sample_seed, sample_within_context
from progsynth.errors import BackendError, UsageError
from progsynth.extraction import cut_at_stop
from progsynth.options import OptionKind, OptionSpec
from progsynth.types import Completion, FinishReason, GenerationRequest


@dataclass(frozen=True)
class HFOptions:
    """Validated options (see ``TransformersBackend.options``); ``ctx`` None means the model's own."""

    device: str
    dtype: str
    batch_size: int
    chat: bool
    download: bool
    ctx: int | None
    trust_remote_code: bool


class TransformersBackend(Backend):
    """Samples with ``AutoModelForCausalLM.generate``.

    ``model``: a checkpoint directory, or a hub id with ``download=True``.
    """

    label: ClassVar[str] = "transformers"
    supports_chat: ClassVar[bool] = True
    supports_reply_prefix: ClassVar[bool] = True
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("device", OptionKind.STR, "auto, cpu, cuda, cuda:1...", default="auto"),
        OptionSpec("dtype", OptionKind.CHOICE, "weights' precision (auto: float32 on CPU)", default="auto",
                   choices=("auto", "float32", "float16", "bfloat16")),
        OptionSpec("batch_size", OptionKind.INT, "samples per forward batch", default=8, minimum=1),
        OptionSpec("chat", OptionKind.BOOL, "apply the tokenizer's chat template", default=False),
        OptionSpec("download", OptionKind.BOOL, "allow fetching a hub id (never done silently)", default=False),
        OptionSpec("ctx", OptionKind.INT, "context limit in tokens (default: the model's)", flag="--ctx",
                   minimum=1),
        OptionSpec("trust_remote_code", OptionKind.BOOL, "run the checkpoint's own modelling code",
                   default=False),
    )

    def __init__(self, model: str | os.PathLike[str] | None = None, **options: Any) -> None:
        self.settings = HFOptions(**self.checked_options(options))
        if model is None:
            raise UsageError("the transformers backend needs model=<checkpoint directory or hub id>")
        self._torch = require_module("torch", "transformers", "the transformers backend")
        self._tf = require_module("transformers", "transformers", "the transformers backend")
        self.model_ref = str(model)
        self.device = self._pick_device()
        self.tokenizer, self.model = self._load()
        self.ctx = self.settings.ctx or _model_context(self.model.config)
        self.name = f"transformers:{Path(self.model_ref).name or self.model_ref}"

    def _pick_device(self) -> str:
        wanted = self.settings.device
        if wanted == "auto":
            return "cuda" if self._torch.cuda.is_available() else "cpu"
        if wanted.startswith("cuda") and not self._torch.cuda.is_available():
            raise BackendError(f"device {wanted!r} requested but torch sees no CUDA GPU")
        return wanted

    def _load(self) -> tuple[Any, Any]:
        local = Path(self.model_ref).expanduser()
        if not local.is_dir() and not self.settings.download:
            raise BackendError(
                f"model directory not found: {local} (for a hub id, fetch it first with "
                f"`hf download {self.model_ref}` or pass the backend option download=true)"
            )
        ref = str(local) if local.is_dir() else self.model_ref
        kwargs = {
            "local_files_only": not self.settings.download,
            "trust_remote_code": self.settings.trust_remote_code,
        }
        dtype = self.settings.dtype
        if dtype == "auto" and self.device == "cpu":
            dtype = "float32"  # half precision on CPU is slow or unsupported
        try:
            tokenizer = self._tf.AutoTokenizer.from_pretrained(ref, **kwargs)
            model = self._tf.AutoModelForCausalLM.from_pretrained(ref, dtype=dtype, **kwargs)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load transformers model {ref}: {_first_line(exc)}") from None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token  # generate() needs one for batches
        model.to(self.device).eval()
        return tokenizer, model

    # --- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> list[Completion]:
        prompt_ids = self._encode(request.prompt, request.reply_prefix)
        return sample_within_context(
            request,
            prompt_tokens=len(prompt_ids),
            ctx=self.ctx,
            chunk_size=lambda: self.settings.batch_size,
            draw=lambda size, offset, max_new: self._batch(request, prompt_ids, size, offset, max_new),
        )

    def _encode(self, prompt: str, reply_prefix: str = "") -> list[int]:
        if self.settings.chat:
            messages = [{"role": "user", "content": prompt}]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            text += reply_prefix
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(self.tokenizer(prompt)["input_ids"])

    def _batch(
        self, request: GenerationRequest, prompt_ids: list[int], size: int, offset: int, max_new: int
    ) -> list[Completion]:
        """``size`` samples from one forward batch; seeded by the batch's first sample index."""
        torch, p = self._torch, request.params
        torch.manual_seed(sample_seed(request, offset))
        ids = torch.tensor([prompt_ids], device=self.device)
        sampling: dict[str, Any] = {"do_sample": False}
        if not p.greedy:
            sampling = {
                "do_sample": True,
                "temperature": p.temperature,
                "top_p": p.top_p,
                "top_k": p.top_k or None,
            }
        with torch.inference_mode():
            generated = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new,
                num_return_sequences=size,
                pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=list(p.stop) or None,
                tokenizer=self.tokenizer,
                **sampling,
            )
        return [self._completion(row[len(prompt_ids) :].tolist(), p.stop, max_new) for row in generated]

    def _completion(self, tokens: list[int], stops: tuple[str, ...], max_new: int) -> Completion:
        eos = _eos_ids(self.model.generation_config, self.tokenizer)
        pad = self.tokenizer.pad_token_id
        ended_at = next((i for i, t in enumerate(tokens) if t in eos), None)
        body = tokens if ended_at is None else tokens[:ended_at]
        if ended_at is None and pad is not None and pad not in eos:
            while body and body[-1] == pad:
                body = body[:-1]
        text, stopped = cut_at_stop(self.tokenizer.decode(body, skip_special_tokens=True), stops)
        if stopped:
            reason = FinishReason.STOP
        elif ended_at is not None:
            reason = FinishReason.EOS
        else:
            reason = FinishReason.LENGTH if len(body) >= max_new else FinishReason.EOS
        return Completion(text=text, finish_reason=reason, tokens=len(body) + (ended_at is not None))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.model_ref,
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "ctx": self.ctx,
            "batch_size": self.settings.batch_size,
            "chat": self.settings.chat,
            "runtime_version": f"transformers {self._tf.__version__}, torch {self._torch.__version__}",
        }

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


def _model_context(config: Any) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _eos_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    ids = getattr(generation_config, "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    return set(ids) if isinstance(ids, list | tuple) else ({ids} if ids is not None else set())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
