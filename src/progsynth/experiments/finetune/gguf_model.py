"""A whole tuned model as a GGUF file: for full fine-tuning, or a LoRA merged into its base.

A LoRA needs none of this (llama.cpp applies the GGUF adapter at load time). Fully tuned weights
have no adapter form, so they are written as a model file that the llama.cpp backend loads like any
other (``--model FILE``). Only the weights change in fine-tuning, so everything else (architecture
hyper-parameters, the tokenizer's vocabulary, merges and special tokens, the chat template) is copied
from the base GGUF the model was dequantized from, key by key, which avoids re-deriving the
tokenizer from transformers' files. The weights are written in float16 (norms and biases, which
llama.cpp reads in float32, stay float32): twice the quantized size, but no quantization error on top
of the tuning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from progsynth.backends.common import require_module
from progsynth.errors import UsageError
from progsynth.experiments.finetune.gguf_export import PERMUTED, finish, gguf_arch, partial, permute_rows

#: Architectures whose converter changes nothing but names and the q/k permutation (Gemma's shifts
#: its norms, for one): a checkpoint of these maps back onto its GGUF tensor by tensor.
SUPPORTED = frozenset({"qwen2", "qwen3", "llama", "mistral"})
#: Keys the writer sets itself (or that describe the old file's tensors).
_SKIPPED_KEYS = ("GGUF.", "general.file_type", "general.quantization_version")


def copy_metadata(reader: Any, writer: Any) -> None:
    """Every key of the base GGUF except the file's own bookkeeping and its quantization type."""
    gguf = require_module("gguf", "finetune", "GGUF export")
    for field in reader.fields.values():
        if field.name.startswith(_SKIPPED_KEYS) or field.name == gguf.Keys.General.ARCHITECTURE:
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)


def model_tensors(state: Mapping[str, Any], model_config: Mapping[str, Any]) -> dict[str, Any]:
    """A transformers state dict (numpy float32 arrays) under llama.cpp's names and layout."""
    gguf = require_module("gguf", "finetune", "GGUF export")
    np = require_module("numpy", "finetune", "GGUF export")
    model_type = str(model_config["model_type"])
    if model_type not in SUPPORTED:
        raise UsageError(f"whole-model GGUF export supports {', '.join(sorted(SUPPORTED))}, not {model_type}")
    names = gguf.get_tensor_name_map(gguf_arch(model_type), int(model_config["num_hidden_layers"]))
    heads = int(model_config["num_attention_heads"])
    kv_heads = int(model_config.get("num_key_value_heads") or heads)
    out: dict[str, Any] = {}
    for key, array in state.items():
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UsageError(f"no llama.cpp tensor for {key} ({model_type})")
        if model_type in PERMUTED and key.endswith(("q_proj.weight", "k_proj.weight")):
            array = permute_rows(array, heads if "q_proj" in key else kv_heads)
        out[name] = array.astype(np.float16) if array.ndim == 2 else array.astype(np.float32)
    return out


def export_model(model: Any, base_gguf: Path, target: Path) -> Path:
    """Write ``model`` (a transformers causal LM, e.g. merged or fully tuned) as a GGUF at ``target``
    with ``base_gguf``'s metadata; written under a temporary name and renamed when complete."""
    gguf = require_module("gguf", "finetune", "GGUF export")
    reader = gguf.GGUFReader(str(base_gguf))
    arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    config = model.config.to_dict()
    if gguf.MODEL_ARCH_NAMES[gguf_arch(str(config["model_type"]))] != arch:
        raise UsageError(f"{base_gguf} is a {arch} model, not a {config['model_type']} one")
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    tensors = model_tensors(state, config)
    writer = gguf.GGUFWriter(str(partial(target)), arch)
    copy_metadata(reader, writer)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    return finish(writer, tensors, target)
