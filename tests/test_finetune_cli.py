"""``progsynth finetune`` from the command line on a tiny GGUF model built here: train, resume a
finished run, evaluate base and tuned side by side, refuse the training split."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_finetune import build_tiny_qwen, write_model_gguf

from progsynth.cli.main import main

pytest.importorskip("peft", reason="the finetune extra is not installed")
pytest.importorskip("gguf", reason="the finetune extra is not installed")
pytest.importorskip("xllamacpp", reason="the llamacpp extra is not installed")


@pytest.fixture()
def tiny_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROGSYNTH_CACHE_DIR", str(tmp_path / "cache"))
    return write_model_gguf(build_tiny_qwen(tmp_path / "hf"), tmp_path / "tiny.gguf")


@pytest.mark.slow
def test_finetune_then_evaluate_side_by_side(tiny_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ft"
    args = ["finetune", "--base", str(tiny_gguf), "--out", str(out), "--limit", "4", "--val-limit", "2",
            "--max-steps", "2", "--batch-size", "2", "--rank", "4", "--shots", "0", "--offline"]
    main([*args, "--evaluate", "validation", "--eval-limit", "1", "--max-tokens", "4", "--threads", "1"])
    printed = capsys.readouterr()
    assert "finetune: step 2/2" in printed.err and "eta" in printed.err  # the progress line
    assert "2 steps" in printed.out and " base: pass@1" in printed.out and "tuned: pass@1" in printed.out
    compare = json.loads((out / "eval-validation" / "compare.json").read_text())
    assert compare["split"] == "validation" and compare["adapter"]["trained_on"] == "mbpp/train"
    main([*args, "-q"])  # a finished run: nothing left to train, the outputs are rewritten
    assert "2 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main([*args, "--evaluate", "train"])
    assert exited.value.code == 2 and "its own training tasks" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main([*args, "--rank", "8"])
    assert exited.value.code == 2 and "other settings (rank)" in capsys.readouterr().err
    run = ["run", "-s", "validation", "--limit", "1", "--shots", "0", "--max-tokens", "4", "--threads", "1",
           "-O", "ctx=1024", "--workers", "1", "--offline", "-q"]
    main([*run, "--adapter", str(out), "--out", str(tmp_path / "run-adapter")])
    doc = json.loads((tmp_path / "run-adapter" / "results.json").read_text())
    assert doc["config"]["backend_options"]["lora"] == str((out / "adapter.gguf").resolve())
    assert doc["config"]["model_provenance"]["finetune_config"]["rank"] == 4
    assert doc["backend"]["model_path"] == str(tiny_gguf.resolve())  # the recorded base, its sha256 checked
    main([*run, "--model", str(out), "--out", str(tmp_path / "run-model")])  # the directory as the model
    assert json.loads((tmp_path / "run-model" / "results.json").read_text())["backend"]["lora_scale"] == 1.0
    capsys.readouterr()
    for bad in (["--adapter", str(out), "-s", "train"], ["--model", str(out), "-s", "train"],
                ["--adapter", str(out), "--backend", "mock"], ["--adapter", str(tmp_path)]):
        with pytest.raises(SystemExit) as exited:
            main([*run, *bad, "--out", str(tmp_path / "refused")])
        err = capsys.readouterr().err
        assert exited.value.code == 2 and err.count("\n") == 1 and err.startswith("progsynth: error:"), err
    assert not (tmp_path / "refused" / "samples.jsonl").exists()


@pytest.mark.slow
def test_sigterm_checkpoints_like_ctrl_c(tmp_path: Path) -> None:
    """``kill`` (SIGTERM) during training saves the last finished step, like Ctrl-C, and exits 130."""
    from test_finetune import build_tiny_qwen

    tiny = build_tiny_qwen(tmp_path / "hf")
    out = tmp_path / "ft"
    cmd = [sys.executable, "-m", "progsynth", "finetune", "--base", str(tiny), "--out", str(out), "--limit", "8",
           "--val-split", "none", "--epochs", "200", "--batch-size", "2", "--shots", "0", "--save-every", "100000",
           "--dtype", "float32", "--offline"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("finetune: step 2/"):
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130 and "interrupted; run the same command again to resume" in rest
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["step"] >= 2
