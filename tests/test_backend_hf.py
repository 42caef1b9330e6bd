"""The transformers backend on a tiny randomly initialised model built here (no hub, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from progsynth.backends import create_backend
from progsynth.backends.hf import TransformersBackend
from progsynth.errors import BackendError, UsageError
from progsynth.types import FinishReason, GenerationRequest, Problem, SamplingParams

torch = pytest.importorskip("torch", reason="the transformers extra is not installed")
transformers = pytest.importorskip("transformers", reason="the transformers extra is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="the transformers extra is not installed")

CORPUS = [
    "def add(a, b):\n    return a + b\n[DONE]\n",
    "def is_even(n):\n    return n % 2 == 0\n[DONE]\n",
    "You are an expert Python programmer, and here is your task: write a function.\n[BEGIN]\n",
] * 20


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained on a few lines of Python."""
    out = tmp_path_factory.mktemp("tiny-llama")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<eos>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(CORPUS, trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>", pad_token="<eos>")
    tok.save_pretrained(out)
    config = transformers.LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(out)
    return out


def _request(prompt: str, params: SamplingParams, task: str = "T/1", first: int = 0) -> GenerationRequest:
    problem = Problem(task_id=task, benchmark="t", split="test", text="", reference="", tests=())
    return GenerationRequest(problem, prompt, params, first)


def test_samples_are_batched_seeded_and_recorded(tiny_model: Path) -> None:
    backend = create_backend("transformers", model=str(tiny_model), batch_size=3)
    params = SamplingParams(n=5, temperature=1.0, max_tokens=12, stop=("[DONE]",), seed=7)
    first = backend.generate(_request("def add(a, b):\n", params))
    again = backend.generate(_request("def add(a, b):\n", params))
    assert len(first) == 5
    assert [c.text for c in first] == [c.text for c in again]  # same seed, same samples
    for c in first:
        assert c.finish_reason in (FinishReason.STOP, FinishReason.EOS, FinishReason.LENGTH)
        assert "[DONE]" not in c.text and not c.text.startswith("def add(a, b):\n")
        assert c.tokens is not None and 0 <= c.tokens <= 12
        if c.finish_reason is FinishReason.LENGTH:
            assert c.tokens == 12
    other_task = backend.generate(_request("def add(a, b):\n", params, task="T/2"))
    assert [c.text for c in other_task] != [c.text for c in first]  # tasks draw different streams
    desc = backend.describe()
    assert desc["device"] == "cpu" and desc["ctx"] == 256 and desc["name"] == backend.name
    backend.close()


def test_greedy_gives_identical_copies(tiny_model: Path) -> None:
    backend = create_backend("transformers", model=str(tiny_model))
    out = backend.generate(_request("def is_even(n):\n", SamplingParams(n=3, temperature=0.0, max_tokens=8)))
    assert len(out) == 3 and len({c.text for c in out}) == 1
    assert isinstance(backend.inner, TransformersBackend) and backend.inner.count_tokens("def add") > 0


def test_prompt_longer_than_context_is_a_failed_generation(tiny_model: Path) -> None:
    backend = create_backend("transformers", model=str(tiny_model), ctx=64)
    out = backend.generate(_request("def add(a, b):\n" * 40, SamplingParams(n=2)))
    assert [c.finish_reason for c in out] == [FinishReason.ERROR] * 2
    assert out[0].error is not None and "exceeds the context of 64 tokens" in out[0].error


def test_missing_model_directory_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        create_backend("transformers", model=str(tmp_path / "nope"))
    assert "model directory not found" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UsageError):
        create_backend("transformers", model=str(tmp_path), dtype="int3")
    with pytest.raises(UsageError):
        create_backend("transformers")
