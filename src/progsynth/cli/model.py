"""The model a command talks to, declared once for every command that generates: ``--backend``,
``--model``, ``--adapter``, ``--seed``, the flags each backend declares and ``-O``; and the one
function that turns them into a backend name, its options and the model's provenance.

A fine-tuned model is given as ``--adapter DIR`` or as ``--model DIR`` (a ``progsynth finetune``
output directory, or its full-fine-tuning ``model.gguf``); either way the training split is refused
and a LoRA adapter goes on the base it was trained on (checked by sha256).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import click

from progsynth.backends import DEFAULT_BACKEND, backend_class, backend_names
from progsynth.benchmarks import benchmark_class
from progsynth.cli.options import BACKEND_FLAGS, key_values, stack
from progsynth.errors import UsageError

MODEL = stack(
    click.option("--backend", type=click.Choice(backend_names()), default=DEFAULT_BACKEND, show_default=True),
    click.option("--model", "-m", default=None,
                 help="Model: GGUF path or alias (llamacpp), checkpoint (transformers), name (openai), or a "
                      "progsynth finetune output directory."),
    click.option("--adapter", default=None, metavar="DIR",
                 help="A progsynth finetune output directory: its LoRA adapter on its base model (llamacpp)."),
    click.option("--seed", type=int, default=1234, show_default=True),
    BACKEND_FLAGS.decorators(),
    click.option("--backend-option", "-O", "extra_options", multiple=True, metavar="KEY=VALUE",
                 help="Any other backend option (repeatable), e.g. -O delay_s=0.1 for the mock backend."),
)


@dataclass(frozen=True)
class ModelChoice:
    """What ``MODEL``'s options say: the backend, its options, and where a tuned model came from."""

    backend: str
    options: Mapping[str, Any]
    provenance: Mapping[str, Any] = field(default_factory=dict)


def model_choice(kw: Mapping[str, Any], *, chat: bool, shots: int | None) -> ModelChoice:
    """``MODEL``'s options checked once. ``chat``: the prompt is a chat turn (backends that can
    apply a chat template are told to); ``shots``: the prompt's worked examples, compared with a
    tuned model's training prompts (None: the command's prompts are not the training format's)."""
    name = kw["backend"]
    options: dict[str, Any] = {"model": kw["model"]} if kw["model"] is not None else {}
    options.update(BACKEND_FLAGS.values_for(name, kw))
    if chat and backend_class(name).supports_chat:
        options["chat"] = True
    options.update(key_values(kw["extra_options"]))
    from progsynth.experiments.finetune.adapter import read_adapter, tuned_run_options, tuned_source

    source = tuned_source(kw["adapter"], kw["model"])
    if source is None:
        return ModelChoice(name, options)
    if name != "llamacpp":
        raise UsageError(f"a fine-tuned model ({source}) is evaluated with --backend llamacpp")
    if kw["adapter"] is None:
        options.pop("model", None)  # --model named the tuned model itself
    split = kw["split"] or benchmark_class(kw["benchmark"]).default_split
    trained_shots = read_adapter(source).shots if shots is None else shots
    options, provenance = tuned_run_options(source, options, kw["benchmark"], split, trained_shots)
    return ModelChoice(name, options, provenance)
