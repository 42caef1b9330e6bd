"""Fine-tuning speed and memory: training tokens/s and peak memory for a few LoRA steps.

Runs ``progsynth.experiments.finetune.pipeline.finetune`` on the default model (or ``--base``) for
``--steps`` optimiser steps of ``--batch-size`` MBPP train examples, in a temporary output folder,
with validation off, and prints the tokens/s of the training steps (the first step is included: it
pays for allocator warm-up), the peak resident memory (CPU) or allocated memory (GPU), the one-off
base conversion time when the cache was cold, and the machine's load average (numbers on a shared
2-core machine are noisy: report the load with them).

Usage: python perf/finetune.py [--steps 3] [--batch-size 2] [--shots 3] [--dtype auto] [--device auto]
       [--base MODEL] [--full] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from progsynth.benchmarks import DataConfig, PromptConfig
from progsynth.experiments.finetune.config import FinetuneConfig, Method

ROOT = Path(__file__).resolve().parents[1]
DATA = DataConfig(data_dir=Path(os.environ.get("PROGSYNTH_DATA_DIR") or ROOT.parent / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--base", default=None)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from progsynth.experiments.finetune import base as bases
    from progsynth.experiments.finetune.pipeline import finetune

    started = time.perf_counter()
    bases.resolve_base(args.base)  # converts the GGUF on a cold cache: timed apart from training
    convert_s = time.perf_counter() - started
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        cfg = FinetuneConfig(out_dir=Path(out), base=args.base, val_split=None, max_steps=args.steps,
                             batch_size=args.batch_size, prompt=PromptConfig(shots=args.shots), dtype=args.dtype,
                             device=args.device, method=Method.FULL if args.full else Method.LORA, data=DATA,
                             save_every=10_000)
        result = finetune(cfg, show_progress=True).results
    figures = {
        "base": result.base.get("name"), "method": "full" if args.full else "lora", "device": result.device,
        "dtype": result.dtype, "shots": args.shots, "steps": result.steps, "batch_size": args.batch_size,
        "train_tokens": result.train_tokens, "train_seconds": result.train_seconds,
        "tokens_per_second": result.tokens_per_second, "peak_memory_mb": result.peak_memory_mb,
        "trainable_parameters": result.trainable_parameters, "base_conversion_seconds": round(convert_s, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
