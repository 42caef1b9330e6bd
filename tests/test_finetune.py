"""Fine-tuning on a tiny randomly initialised Qwen2 built here (no hub): the loss goes down, a killed
run resumes where it stopped, the configuration is checked, and the adapter exports to GGUF."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from progsynth.benchmarks.base import PromptConfig
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.errors import UsageError
from progsynth.experiments.finetune.checkpoint import TrainState
from progsynth.experiments.finetune.config import (
    ADAPTER_DIR,
    ADAPTER_GGUF,
    CONFIG_FILE,
    CURVE_FILE,
    FinetuneConfig,
    Method,
)
from progsynth.experiments.finetune.results import FinetuneResults, read_curve

torch = pytest.importorskip("torch", reason="the finetune extra is not installed")
transformers = pytest.importorskip("transformers", reason="the finetune extra is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="the finetune extra is not installed")
pytest.importorskip("peft", reason="the finetune extra is not installed")
gguf = pytest.importorskip("gguf", reason="the finetune extra is not installed")
#: peft reads a property transformers 5 deprecates; not this project's to fix
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

DATA = dataclasses.replace(data_config_from_env(None), allow_download=False)


def _corpus() -> list[str]:
    """MBPP's prompts and code, so the tiny tokenizer splits them into few tokens."""
    from progsynth.benchmarks import get_benchmark

    bench = get_benchmark("mbpp")
    problems = bench.load("all", DATA)[:200]
    return [p.text + "\n" + "\n".join(p.tests) + "\n" + p.reference for p in problems]


def build_tiny_qwen(out: Path) -> Path:
    """A 2-layer Qwen2 (untied output, like the embedded model) with a byte-level BPE tokenizer."""
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>"],
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_corpus(), trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                               pad_token="<|endoftext|>")
    tok.save_pretrained(out)
    config = transformers.Qwen2Config(
        vocab_size=bpe.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=False,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
    )
    torch.manual_seed(0)
    transformers.Qwen2ForCausalLM(config).save_pretrained(out)
    return out


def write_model_gguf(checkpoint: Path, target: Path) -> Path:
    """The tiny checkpoint as a float32 GGUF llama.cpp can load (qwen2 architecture, gpt2 BPE vocab)."""
    config = json.loads((checkpoint / "config.json").read_text())
    tok = json.loads((checkpoint / "tokenizer.json").read_text())
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w = gguf.GGUFWriter(str(target), "qwen2")
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    w.add_rope_freq_base(float(config["rope_theta"]) if "rope_theta" in config else 10000.0)
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list([t for t, _ in vocab])
    w.add_token_types([gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t, _ in vocab])
    w.add_token_merges(merges)
    w.add_eos_token_id(specials["<|endoftext|>"])
    w.add_add_bos_token(False)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, config["num_hidden_layers"])
    state = transformers.AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).state_dict()
    for key, value in state.items():
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        assert name is not None, key
        w.add_tensor(name, value.float().numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return target


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen2"))


@contextlib.contextmanager
def interrupted_at_step(n: int) -> Iterator[None]:
    """``Trainer.step`` raising KeyboardInterrupt (a Ctrl-C) on its ``n``-th call."""
    from progsynth.experiments.finetune.train import Trainer

    original, calls = Trainer.step, {"n": 0}

    def dying_step(self: Trainer, step: int) -> tuple[float, int]:
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return original(self, step)

    Trainer.step = dying_step  # type: ignore[method-assign]
    try:
        yield
    finally:
        Trainer.step = original  # type: ignore[method-assign]


def config(out: Path, base: Path, **overrides: Any) -> FinetuneConfig:
    values: dict[str, Any] = {
        "out_dir": out, "base": str(base), "limit": 12, "val_limit": 4, "batch_size": 4, "epochs": 3,
        "lr": 3e-3, "rank": 4, "dropout": 0.0, "max_len": 384, "save_every": 2, "data": DATA,
        "dtype": "float32", "device": "cpu", "prompt": PromptConfig(shots=0),
    }
    values.update(overrides)
    return FinetuneConfig(**values)


def test_lora_loss_goes_down_and_outputs_are_written(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune.pipeline import finetune

    out = finetune(config(tmp_path / "ft", tiny), show_progress=False)
    res = out.results
    train, val = read_curve(tmp_path / "ft" / CURVE_FILE)
    assert res.steps == 9 and len(train) == 9 and res.train_examples == 12 and res.val_examples == 4
    assert train[-1][1] < train[0][1]  # the training loss went down
    assert [s for s, _ in val] == [0, 3, 6, 9] and res.best_val_loss is not None
    assert res.best_val_loss < val[0][1] and res.initial_val_loss == val[0][1]
    assert res.trained_split == "train" and res.benchmark == "mbpp" and 0 < res.trainable_parameters < res.total_parameters
    assert (tmp_path / "ft" / ADAPTER_DIR / "adapter_config.json").is_file()
    assert (tmp_path / "ft" / ADAPTER_GGUF).is_file()
    recorded = json.loads((tmp_path / "ft" / CONFIG_FILE).read_text())
    assert recorded["split"] == "train" and recorded["prompt"]["shots"] == 0
    assert FinetuneResults.from_json(json.loads(out.results_path.read_text())) == res
    state = TrainState.from_json(json.loads((tmp_path / "ft" / "checkpoint" / "state.json").read_text()))
    assert res.peak_memory_mb == round(state.peak_memory_mb, 1) > 0  # the training's peak, kept across sessions


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_weights(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune import pipeline

    straight = pipeline.finetune(config(tmp_path / "a", tiny, epochs=2), show_progress=False).results
    with interrupted_at_step(4), pytest.raises(KeyboardInterrupt):  # Ctrl-C during the fourth step
        pipeline.finetune(config(tmp_path / "b", tiny, epochs=2), show_progress=False)
    state = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert TrainState.from_json(state).step == 3  # the interrupt saved the last finished step
    resumed = pipeline.finetune(config(tmp_path / "b", tiny, epochs=2), show_progress=False).results
    assert resumed.steps == straight.steps == 6
    assert resumed.best_val_loss == pytest.approx(straight.best_val_loss, rel=1e-4)
    a, _ = read_curve(tmp_path / "a" / CURVE_FILE)
    b, _ = read_curve(tmp_path / "b" / CURVE_FILE)
    assert [s for s, _ in b] == [1, 2, 3, 4, 5, 6]
    assert [round(v, 3) for _, v in a] == [round(v, 3) for _, v in b]


def test_a_changed_configuration_is_refused_unless_fresh(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune.pipeline import finetune

    finetune(config(tmp_path / "ft", tiny, epochs=1, limit=4, max_steps=1), show_progress=False)
    with pytest.raises(UsageError, match="rank"):
        finetune(config(tmp_path / "ft", tiny, epochs=1, limit=4, max_steps=1, rank=8), show_progress=False)
    again = finetune(config(tmp_path / "ft", tiny, epochs=1, limit=4, max_steps=1, rank=8, fresh=True),
                     show_progress=False)
    assert again.results.steps == 1
    longer = finetune(config(tmp_path / "ft", tiny, epochs=2, limit=4, rank=8), show_progress=False)  # train on
    assert longer.results.steps == 2 and longer.results.best_step in (1, 2)
    _, val = read_curve(tmp_path / "ft" / CURVE_FILE)
    assert [s for s, _ in val] == [0, 1, 2]


def test_full_fine_tuning_saves_a_checkpoint(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune.pipeline import finetune

    out = finetune(config(tmp_path / "ft", tiny, method=Method.FULL, lr=1e-3, epochs=1, limit=4, val_split=None),
                   show_progress=False)
    assert out.results.trainable_parameters == out.results.total_parameters and out.results.adapter_gguf is None
    assert (tmp_path / "ft" / "model" / "config.json").is_file()


def test_options_are_checked_once() -> None:
    with pytest.raises(UsageError, match="rank"):
        FinetuneConfig(out_dir=Path("x"), rank=0)
    with pytest.raises(UsageError, match="validation split"):
        FinetuneConfig(out_dir=Path("x"), split="validation")
    assert FinetuneConfig(out_dir=Path("x")).prompt.shots == 3  # the paper's format, as progsynth run uses
    cfg = FinetuneConfig(out_dir=Path("x"), prompt=PromptConfig(shots=1))
    assert cfg.lora_alpha == 32 and cfg.learning_rate == 2e-4
    assert FinetuneConfig.from_json(cfg.to_json(), Path("x")).identity() == cfg.identity()


def test_examples_are_the_evaluation_prompts_with_the_reference_as_target(tiny: Path) -> None:
    from progsynth.benchmarks import get_benchmark
    from progsynth.experiments.finetune.data import build_examples

    tok = transformers.AutoTokenizer.from_pretrained(tiny)
    prompt = PromptConfig(shots=1)
    made = build_examples(tok, "mbpp", {}, "train", prompt, DATA, limit=3, max_len=4096)
    bench = get_benchmark("mbpp")
    problem = bench.load("train", DATA)[0]
    first = made.examples[0]
    assert first.task_id == problem.task_id == "Mbpp/601" and not made.truncated
    assert tok.decode(first.input_ids[:first.prompt_len]) == bench.prompt(problem, prompt, DATA)
    assert tok.decode(first.input_ids[first.prompt_len:]) == problem.reference + "\n[DONE]"
    cut = build_examples(tok, "mbpp", {}, "train", prompt, DATA, limit=3, max_len=first.prompt_len + 5)
    assert cut.examples[0].truncated and cut.examples[0].target_tokens == 5  # the prompt is kept whole
    assert len(cut.examples) + len(cut.dropped) == 3 and cut.truncated >= 1
    with pytest.raises(UsageError):
        build_examples(tok, "mbpp", {}, "train", prompt, DATA, limit=3, max_len=16)


def test_the_schedule_warms_up_then_decays_to_its_floor() -> None:
    from progsynth.experiments.finetune.optim import warmup_cosine

    factor = warmup_cosine(total_steps=20, warmup_fraction=0.1, floor=0.1)
    values = [factor(s) for s in range(20)]
    assert values[0] == 0.5 and values[1] == 1.0 and values[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[1:], values[2:], strict=False)) and values[-1] > 0.1
    assert factor(20) == pytest.approx(0.1)
    assert warmup_cosine(5, 0.0)(0) == 1.0


def test_a_merged_lora_computes_what_the_adapter_computes(tiny: Path, tmp_path: Path) -> None:
    import peft

    from progsynth.experiments.finetune.merge import merge_adapter

    base = transformers.AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    torch.manual_seed(3)
    tuned = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                      init_lora_weights=False)).eval()
    tuned.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[5, 9, 77, 200, 31]])
    with torch.no_grad():
        expected = tuned(ids).logits
    merged_dir = merge_adapter(tiny, tmp_path / "adapter", tmp_path / "merged", dtype="float32")
    merged = transformers.AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, expected, atol=1e-4)
    assert not list(tmp_path.glob("merged.*.partial"))


def test_a_run_stopped_early_is_validated_where_it_stopped(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune import pipeline

    with interrupted_at_step(4), pytest.raises(KeyboardInterrupt):
        pipeline.finetune(config(tmp_path / "ft", tiny, limit=8, epochs=2), show_progress=False)
    stopped = pipeline.finetune(config(tmp_path / "ft", tiny, limit=8, epochs=2, max_steps=3), show_progress=False)
    _, val = read_curve(tmp_path / "ft" / CURVE_FILE)
    assert stopped.results.steps == 3 and [s for s, _ in val] == [0, 2, 3]  # validated at the last step
    assert (tmp_path / "ft" / ADAPTER_GGUF).is_file()


def test_the_shots_prefix_cache_gives_the_same_losses_and_trains(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune import base as bases
    from progsynth.experiments.finetune.pipeline import examples, finetune, wrap_model
    from progsynth.experiments.finetune.train import Trainer

    tok, model = bases.load(tiny, "cpu", "float32")
    cfg = config(tmp_path / "x", tiny, prompt=PromptConfig(shots=2), val_limit=3, dropout=0.1, max_len=2048)
    train, val = examples(cfg, tok)
    assert val is not None and {e.prefix_len for e in train.examples + val.examples} != {0}
    assert len({e.input_ids[:e.prefix_len] for e in train.examples}) == 1  # MBPP's shots are the same for all
    model = wrap_model(cfg, model)
    losses = []
    for cached in (True, False):
        trainer = Trainer(dataclasses.replace(cfg, prefix_cache=cached), model, train, val, device="cpu",
                          save_best=lambda m: None, show_progress=False)
        losses.append(trainer.validate())
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    out = finetune(dataclasses.replace(cfg, out_dir=tmp_path / "ft", epochs=2), show_progress=False).results
    curve, _ = read_curve(tmp_path / "ft" / CURVE_FILE)
    assert out.steps == 6 and curve[-1][1] < curve[0][1]


def test_mathqa_trains_with_the_same_command(tiny: Path, tmp_path: Path) -> None:
    from progsynth.experiments.finetune.pipeline import finetune

    cfg = config(tmp_path / "ft", tiny, benchmark="mathqa-python", split="validation", val_split="test", limit=4,
                 val_limit=2, max_steps=1)
    out = finetune(cfg, show_progress=False).results
    assert out.benchmark == "mathqa-python" and out.trained_split == "validation" and out.train_examples == 4
    assert json.loads((tmp_path / "ft" / CONFIG_FILE).read_text())["split"] == "validation"
