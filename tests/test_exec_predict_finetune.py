"""``progsynth finetune --target exec-predict``: the examples are the exec-predict prompts with the
real outputs as targets, a tiny model trains on them, the configuration records (and resumes) the
target, and the tuned adapter is evaluated by ``progsynth exec-predict --adapter``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from test_finetune import build_tiny_qwen, config, tiny, write_model_gguf  # noqa: F401 - the fixture

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.errors import UsageError
from progsynth.experiments.exec_predict.prompts import Condition, build_prompt
from progsynth.experiments.finetune.config import CONFIG_FILE, ExecPredictPrompt, FinetuneConfig, Target

transformers = pytest.importorskip("transformers", reason="the finetune extra is not installed")
pytest.importorskip("peft", reason="the finetune extra is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

DATA = dataclasses.replace(data_config_from_env(None), allow_download=False)


def test_examples_are_exec_predict_prompts_with_the_real_output_as_target(tiny: Path) -> None:  # noqa: F811
    from progsynth.experiments.exec_predict.training import usable_facts
    from progsynth.experiments.finetune.data import build_examples

    tok = transformers.AutoTokenizer.from_pretrained(tiny)
    prompt = ExecPredictPrompt(shots=0, condition=Condition.CODE_ASSERTS)
    made = build_examples(tok, "mbpp", {}, "train", prompt, DATA, limit=2, max_len=4096)
    bench = get_benchmark("mbpp")
    problems = bench.load("train", DATA)[:2]
    facts = usable_facts(bench, problems, DATA)
    assert len(made.examples) == sum(len(f) for f in facts.values()) >= 6
    first, fact = made.examples[0], facts["Mbpp/601"][0]
    assert first.task_id == "Mbpp/601"
    expected = build_prompt(problems[0], fact, Condition.CODE_ASSERTS, others=facts["Mbpp/601"])
    assert tok.decode(first.input_ids[:first.prompt_len]) == expected
    assert tok.decode(first.input_ids[first.prompt_len:]) == f"{fact.output}\n"
    few = build_examples(tok, "mbpp", {}, "train", ExecPredictPrompt(shots=2, condition=Condition.FEW_SHOT), DATA,
                         limit=1, max_len=4096)
    assert all(e.prefix_len > 0 for e in few.examples)  # the shared shots, for the prefix cache


def test_the_target_is_recorded_checked_and_read_back() -> None:
    cfg = FinetuneConfig(out_dir=Path("x"), prompt=ExecPredictPrompt(shots=0, condition=Condition.CODE))
    assert cfg.target is Target.EXEC_PREDICT and cfg.to_json()["target"] == "exec-predict"
    again = FinetuneConfig.from_json(cfg.to_json(), Path("x"))
    assert again.prompt == cfg.prompt and again.identity() == cfg.identity()
    assert FinetuneConfig(out_dir=Path("x")).identity() != cfg.identity()  # a resume cannot switch targets
    with pytest.raises(UsageError):
        ExecPredictPrompt(shots=3, condition=Condition.CODE)


def test_a_tiny_model_trains_on_execution_facts(tiny: Path, tmp_path: Path) -> None:  # noqa: F811
    from progsynth.experiments.finetune.pipeline import finetune

    prompt = ExecPredictPrompt(shots=0, condition=Condition.CODE)
    out = finetune(config(tmp_path / "ft", tiny, prompt=prompt, limit=3, val_limit=1, max_steps=2, epochs=1),
                   show_progress=False)
    assert out.results.steps == 2 and out.results.train_examples >= 9
    recorded = json.loads((tmp_path / "ft" / CONFIG_FILE).read_text())
    assert recorded["target"] == "exec-predict" and recorded["prompt"]["condition"] == "code"


@pytest.mark.slow
def test_finetune_cli_then_exec_predict_with_the_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gguf", reason="the finetune extra is not installed")
    pytest.importorskip("xllamacpp", reason="the llamacpp extra is not installed")
    from progsynth.cli.main import main

    monkeypatch.setenv("PROGSYNTH_CACHE_DIR", str(tmp_path / "cache"))
    base = write_model_gguf(build_tiny_qwen(tmp_path / "hf"), tmp_path / "tiny.gguf")
    out = tmp_path / "ft"
    main(["finetune", "--target", "exec-predict", "--base", str(base), "--out", str(out), "--limit", "2",
          "--val-limit", "1", "--max-steps", "2", "--batch-size", "2", "--rank", "4", "--offline", "-q",
          "--evaluate", "validation", "--eval-limit", "1", "--max-tokens", "4", "--threads", "1"])
    assert json.loads((out / CONFIG_FILE).read_text())["target"] == "exec-predict"
    for side in ("exec-base", "exec-tuned"):  # --evaluate: the trained condition for base and tuned
        doc = json.loads((out / "eval-validation" / side / "exec_predict.json").read_text())
        assert [c["condition"] for c in doc["conditions"]] == ["code"] and doc["facts"]["tasks"] == 1
    assert "lora" in json.loads((out / "eval-validation" / "exec-tuned" / "exec_predict.json").read_text())[
        "config"]["options"]
    args = ["exec-predict", "-s", "validation", "--limit", "1", "--condition", "code", "--max-tokens", "8",
            "--threads", "1", "-O", "ctx=2048", "--workers", "1", "--offline", "-q"]
    main([*args, "--adapter", str(out), "--out", str(tmp_path / "ep")])
    doc = json.loads((tmp_path / "ep" / "exec_predict.json").read_text())
    assert doc["config"]["options"]["lora"] == str((out / "adapter.gguf").resolve())
    assert doc["conditions"][0]["predictions"] == 3
    with pytest.raises(SystemExit) as exited:  # never scored on its own training split
        main([*args, "--adapter", str(out), "-s", "train", "--out", str(tmp_path / "refused")])
    assert exited.value.code == 2
