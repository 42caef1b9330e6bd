"""The runner through its Python API with the shipped mock backend and the real executor."""

from __future__ import annotations

import json
from pathlib import Path

from progsynth.backends.mock import MockBackend
from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import PromptConfig, PromptStyle
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import run
from progsynth.types import Completion, FinishReason, GenerationRequest, SamplingParams


def _config(tmp_path: Path, **kw: object) -> RunConfig:
    return RunConfig(out_dir=tmp_path / "run", backend="mock", data=data_config_from_env(), limit=4, **kw)  # type: ignore[arg-type]


def test_chat_answers_are_extracted_from_prose_and_fences(tmp_path: Path) -> None:
    def chat(request: GenerationRequest, idx: int) -> str:
        code = request.problem.reference
        return f"Sure! Here is the function:\n```python\n{code}\n```\nUsage:\n```python\nprint('demo')\n```\nDone."

    cfg = _config(tmp_path, prompt=PromptConfig(style=PromptStyle.CHAT))
    out = run(cfg, backend=MockBackend(chat), show_progress=False)
    assert out.results["passed"] == 4
    samples = [json.loads(x) for x in (cfg.out_dir / "samples.jsonl").read_text().splitlines()]
    assert all("Sure!" in s["raw"] and "Sure!" not in s["completion"] for s in samples)
    assert all("print('demo')" not in s["completion"] for s in samples)


def test_generation_failures_and_length_caps_are_visible(tmp_path: Path) -> None:
    def script(request: GenerationRequest, idx: int) -> Completion:
        tid = request.problem.task_id
        if tid == "Mbpp/11":
            return Completion("", FinishReason.ERROR, 0, error="prompt of 9000 tokens exceeds the context")
        if tid == "Mbpp/12":
            return Completion("def f(x):\n    return [", FinishReason.LENGTH, 512)
        return Completion(request.problem.reference, FinishReason.STOP, 40)

    cfg = _config(tmp_path)
    doc = run(cfg, backend=MockBackend(script), show_progress=False).results
    assert doc["generation"]["finish_reasons"] == {"error": 1, "length": 1, "stop": 2}
    assert doc["passed"] == 2 and doc["verdicts"]["syntax_error"] == 1
    failed = {f["task_id"]: f for f in doc["failed_tasks"]}
    assert set(failed) == {"Mbpp/11", "Mbpp/12"}
    samples = {s["task_id"]: s for s in map(json.loads, (cfg.out_dir / "samples.jsonl").read_text().splitlines())}
    assert samples["Mbpp/11"]["finish_reason"] == "error" and "exceeds the context" in samples["Mbpp/11"]["raw"]


def test_samples_are_added_when_n_grows_and_pass_at_k_uses_them(tmp_path: Path) -> None:
    backend = MockBackend()
    first = run(_config(tmp_path, sampling=SamplingParams(n=2, temperature=0.5)), backend=backend,
                show_progress=False)
    assert first.results["samples"] == 8
    second = run(_config(tmp_path, sampling=SamplingParams(n=4, temperature=0.5)), backend=backend,
                 show_progress=False)
    assert second.results["samples"] == 16 and second.results["passed"] == 8
    assert [r.first_idx for r in backend.calls[4:]] == [2, 2, 2, 2]  # only the missing samples were asked for
    metrics = second.results["metrics"]
    assert metrics["pass@1"]["value"] == 0.5 and metrics["pass@4"]["value"] == 1.0
    assert metrics["samples_pass"]["value"] == 0.5 and metrics["solved_any"]["value"] == 1.0


def test_results_record_configuration_environment_and_sandbox(tmp_path: Path) -> None:
    doc = run(_config(tmp_path), backend=MockBackend(), show_progress=False).results
    assert doc["schema"] == "progsynth.results/1"
    assert doc["config"]["benchmark"] == "mbpp" and doc["config"]["sampling"]["stop"] == ["[DONE]"]
    assert doc["config"]["limits"]["timeout_s"] == 10.0
    assert doc["environment"]["python"] and doc["backend"]["name"].startswith("mock")
    assert doc["sandbox"], "the executor must report which protections were active"
    assert get_benchmark("mbpp").name == "mbpp"
