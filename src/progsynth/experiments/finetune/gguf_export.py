"""A peft LoRA adapter as a llama.cpp GGUF adapter, so the tuned model is served at full speed.

The format is llama.cpp's own (what its ``convert_lora_to_gguf.py`` writes): ``general.type =
adapter``, the base's ``general.architecture``, ``adapter.type = lora`` and ``adapter.lora.alpha``;
each adapted weight ``W`` (GGUF name such as ``blk.3.ffn_down.weight``) gets ``<name>.lora_a`` with
peft's ``lora_A`` (shape rank x in) and ``<name>.lora_b`` with ``lora_B`` (out x rank). llama.cpp
scales ``B @ A`` by ``alpha / rank`` exactly as peft does. Names come from the ``gguf`` package's
own transformers-to-GGUF table, so every architecture llama.cpp converts is mapped the same way.

Llama-family converters permute the rows of the query and key projections (rotary layout); the
adapter's ``lora_B`` of those projections gets the same row permutation, or the adapter would fit
the weights of another layout. Variants llama.cpp cannot express (DoRA, rsLoRA, fully trained
extra modules) are refused rather than exported wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from progsynth.backends.common import require_module
from progsynth.errors import UsageError

#: Architectures whose GGUF converter permutes q/k rows (``LlamaModel.permute`` in llama.cpp).
PERMUTED = frozenset({"llama", "mistral"})
_PEFT_PREFIX = "base_model.model."
_LORA_PARTS = {"lora_A": "lora_a", "lora_B": "lora_b"}


def gguf_arch(model_type: str) -> Any:
    """The ``gguf.MODEL_ARCH`` of a transformers ``model_type`` (``gemma3_text`` is ``gemma3``)."""
    gguf = require_module("gguf", "finetune", "GGUF export")
    by_name = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}
    for candidate in (model_type, model_type.removesuffix("_text")):
        if candidate in by_name:
            return by_name[candidate]
    raise UsageError(f"no GGUF architecture for model type {model_type!r}")


def permute_rows(matrix: Any, heads: int) -> Any:
    """llama.cpp's q/k row permutation (``convert_hf_to_gguf.LlamaModel.permute``) of a 2-D array."""
    rows = matrix.shape[0]
    return matrix.reshape(heads, 2, rows // heads // 2, *matrix.shape[1:]).swapaxes(1, 2).reshape(matrix.shape)


def check_adapter_config(adapter: Mapping[str, Any]) -> None:
    """Refuse LoRA variants that a llama.cpp adapter cannot express."""
    if adapter.get("peft_type", "LORA") != "LORA":
        raise UsageError(f"only LoRA adapters export to GGUF, not {adapter.get('peft_type')}")
    for flag in ("use_dora", "use_rslora"):
        if adapter.get(flag):
            raise UsageError(f"a LoRA with {flag} cannot be exported to a llama.cpp adapter")
    if adapter.get("modules_to_save"):
        raise UsageError("a LoRA with fully trained modules (modules_to_save) cannot be a llama.cpp adapter")
    if adapter.get("rank_pattern") or adapter.get("alpha_pattern"):
        raise UsageError("a LoRA with per-module ranks or alphas cannot be a llama.cpp adapter (one alpha)")


def gguf_tensors(weights: Mapping[str, Any], model_config: Mapping[str, Any]) -> dict[str, Any]:
    """peft's adapter tensors (float32 numpy arrays) under their llama.cpp names."""
    gguf = require_module("gguf", "finetune", "GGUF export")
    model_type = str(model_config["model_type"])
    layers = int(model_config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf_arch(model_type), layers)
    heads = int(model_config["num_attention_heads"])
    kv_heads = int(model_config.get("num_key_value_heads") or heads)
    out: dict[str, Any] = {}
    for key, array in weights.items():
        module, _, part = key.removeprefix(_PEFT_PREFIX).rpartition(".")  # "...q_proj.lora_A", "weight"
        module, _, lora = module.rpartition(".")
        if part != "weight" or lora not in _LORA_PARTS:
            raise UsageError(f"unexpected tensor {key!r} in the adapter (only lora_A/lora_B weights export)")
        gguf_name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise UsageError(f"no llama.cpp tensor for {module} ({model_type})")
        if lora == "lora_B" and model_type in PERMUTED and module.endswith(("q_proj", "k_proj")):
            array = permute_rows(array, heads if module.endswith("q_proj") else kv_heads)
        out[f"{gguf_name}.{_LORA_PARTS[lora]}"] = array
    return out


def export_lora(adapter_dir: Path, model_config: Mapping[str, Any], target: Path) -> Path:
    """Write ``adapter_dir`` (a peft ``save_pretrained`` folder) as a GGUF adapter at ``target``."""
    gguf = require_module("gguf", "finetune", "GGUF export")
    st = require_module("safetensors.torch", "finetune", "GGUF export")
    adapter = json.loads((adapter_dir / "adapter_config.json").read_text())
    check_adapter_config(adapter)
    raw = st.load_file(str(adapter_dir / "adapter_model.safetensors"))
    weights = {k: v.float().numpy() for k, v in raw.items()}
    tensors = gguf_tensors(weights, model_config)
    arch = gguf.MODEL_ARCH_NAMES[gguf_arch(str(model_config["model_type"]))]
    writer = gguf.GGUFWriter(str(partial(target)), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(adapter["lora_alpha"]))
    return finish(writer, tensors, target)


def partial(target: Path) -> Path:
    """Where a GGUF is written before it is complete (renamed to ``target`` by ``finish``)."""
    return target.with_name(target.name + ".partial")


def finish(writer: Any, tensors: Mapping[str, Any], target: Path) -> Path:
    """Add ``tensors`` (in name order), write the file and rename it into place: a GGUF at
    ``target`` is always complete."""
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial(target).replace(target)
    return target
