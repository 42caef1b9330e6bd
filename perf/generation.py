"""Generation speed: the runtime alone vs progsynth end to end, and what prompt reuse buys.

Prints, in one run, on the default model (or ``--model``):

1. raw runtime tokens/s: the llama.cpp server driven directly (in-process call, no progsynth code)
   on the same 3-shot MBPP prompts, greedy, with its own prefix reuse;
2. progsynth end-to-end tokens/s on those prompts: ``progsynth.run.pipeline.run`` with generation,
   samples file, sandboxed execution and results (the target is a ratio >= 0.9 to 1.);
3. the n = 8 prompt-reuse speed-up: 8 samples as separate requests each re-evaluating the prompt
   vs one request with ``n = 8`` (target >= 3x), plus the cost of a task's prompt with and without
   the cached 3-shot prefix;
4. with ``--compare-threads``: decode speed for 1 and 2 threads on a fixed prompt.

Numbers on a shared 2-core machine are noisy: run it on a quiet machine and report the load.
Usage: python perf/generation.py [--tasks 5] [--threads N] [--model PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from progsynth.backends.llamacpp import LlamaCppBackend
from progsynth.benchmarks import DataConfig, PromptConfig, get_benchmark
from progsynth.run.config import RunConfig
from progsynth.types import GenerationRequest, Problem, SamplingParams

ROOT = Path(__file__).resolve().parents[1]
DATA = DataConfig(data_dir=Path(os.environ.get("PROGSYNTH_DATA_DIR") or ROOT.parent / "shared" / "data"))
PAPER = SamplingParams(max_tokens=512)


def raw_call(backend: LlamaCppBackend, prompt: str, **fields: Any) -> dict[str, Any]:
    """One OpenAI-style completion straight into the runtime's server object (no HTTP, no progsynth)."""
    body = {"prompt": prompt, "max_tokens": 512, "temperature": 0.0, "stop": ["[DONE]"], **fields}
    reply = backend._server.handle_completions(body)  # the raw runtime object, on purpose
    if not isinstance(reply, dict) or "choices" not in reply:
        raise SystemExit(f"runtime error: {str(reply)[:200]}")
    return reply


def raw_pass(backend: LlamaCppBackend, prompts: list[str]) -> tuple[int, float]:
    started, tokens = time.perf_counter(), 0
    for prompt in prompts:
        tokens += int(raw_call(backend, prompt)["usage"]["completion_tokens"])
    return tokens, time.perf_counter() - started


def progsynth_pass(backend: LlamaCppBackend, task_ids: list[str]) -> tuple[int, float]:
    """The runner, end to end, on a fresh run directory: generation + samples + execution + results."""
    from progsynth.run.pipeline import run

    with tempfile.TemporaryDirectory() as out:
        cfg = RunConfig(out_dir=Path(out), benchmark="mbpp", task_ids=tuple(task_ids), sampling=PAPER, data=DATA)
        started = time.perf_counter()
        run(cfg, backend=backend, show_progress=False)
        elapsed = time.perf_counter() - started
        tokens = sum(int(json.loads(line).get("tokens") or 0) for line in (Path(out) / "samples.jsonl").open())
    return tokens, elapsed


def backend_pass(backend: LlamaCppBackend, problems: list[Problem], prompts: dict[str, str]) -> tuple[int, float]:
    """progsynth's backend alone (prompt counting, request building, parsing): used when the runner
    cannot run here, e.g. while its executor is unavailable."""
    started, tokens = time.perf_counter(), 0
    for p in problems:
        tokens += sum(c.tokens or 0 for c in backend.generate(GenerationRequest(p, prompts[p.task_id], PAPER)))
    return tokens, time.perf_counter() - started


def e2e_pass(backend: LlamaCppBackend, problems: list[Problem], prompts: dict[str, str]) -> tuple[int, float, str]:
    try:
        return (*progsynth_pass(backend, [p.task_id for p in problems]), "progsynth")
    except ImportError as exc:
        print(f"  (runner unavailable: {exc}; measuring through the backend only)", flush=True)
        return (*backend_pass(backend, problems, prompts), "backend")


def reuse_speedup(backend: LlamaCppBackend, problem: Problem, prompt: str, n: int) -> dict[str, float]:
    """n samples re-evaluating the prompt each time vs one request with n samples."""
    params = SamplingParams(n=n, temperature=0.5, max_tokens=512, seed=1)
    started = time.perf_counter()
    for i in range(n):
        raw_call(backend, prompt, temperature=0.5, top_k=0, top_p=1.0, min_p=0.0, seed=1 + i, cache_prompt=False)
    separate = time.perf_counter() - started
    raw_call(backend, "warm-up: evict this task's prompt from the slot cache", max_tokens=1)
    started = time.perf_counter()
    out = backend.generate(GenerationRequest(problem, prompt, params))
    together = time.perf_counter() - started
    assert len(out) == n
    return {"separate_s": separate, "together_s": together, "speedup": separate / together}


def prefix_cost(backend: LlamaCppBackend, cold: str, warm_after: str, prompt: str) -> dict[str, float]:
    """Prompt evaluation time of ``prompt`` with nothing cached vs after a task sharing its prefix."""
    raw_call(backend, cold, max_tokens=1)
    cold_ms = raw_call(backend, prompt, max_tokens=1, cache_prompt=False)["timings"]["prompt_ms"]
    raw_call(backend, warm_after, max_tokens=1)
    warm = raw_call(backend, prompt, max_tokens=1)["timings"]
    return {
        "cold_prompt_s": cold_ms / 1000,
        "cached_prefix_prompt_s": warm["prompt_ms"] / 1000,
        "new_tokens_evaluated": warm["prompt_n"],
    }


def thread_probe(model: str | None, prompt: str) -> dict[int, float]:
    """Decode tok/s of 64 forced tokens for 1 and 2 threads (a fresh server each)."""
    speeds = {}
    for threads in (1, 2):
        with LlamaCppBackend(model=model, threads=threads, parallel=1) as be:
            reply = raw_call(be, prompt, max_tokens=64, ignore_eos=True, stop=[])
            speeds[threads] = float(reply["timings"]["predicted_per_second"])
    return speeds


def throughput(backend: LlamaCppBackend, chosen: list[Problem], prompts: dict[str, str]) -> dict[str, Any]:
    """Raw runtime and progsynth end to end, alternated twice so drifting load hits both alike."""
    passes = []
    for label in ("raw", "progsynth") * 2:
        if label == "raw":
            tokens, seconds = raw_pass(backend, [prompts[p.task_id] for p in chosen])
        else:
            tokens, seconds, label = e2e_pass(backend, chosen, prompts)
        passes.append((label, tokens, seconds))
        print(f"  {label:9s} {tokens:5d} tokens in {seconds:6.1f} s = {tokens / seconds:5.1f} tok/s", flush=True)
    raw_rate = sum(t for lab, t, _ in passes if lab == "raw") / sum(s for lab, _, s in passes if lab == "raw")
    e2e_rate = sum(t for lab, t, _ in passes if lab != "raw") / sum(s for lab, _, s in passes if lab != "raw")
    print(
        f"raw runtime {raw_rate:.1f} tok/s, progsynth end to end {e2e_rate:.1f} tok/s: "
        f"ratio {e2e_rate / raw_rate:.2f} (target >= 0.9)",
        flush=True,
    )
    return {
        "raw_tok_s": raw_rate,
        "progsynth_tok_s": e2e_rate,
        "ratio": e2e_rate / raw_rate,
        "measured_through": passes[-1][0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=5, help="MBPP test tasks in the throughput comparison")
    ap.add_argument("--threads", default=None, help="llama.cpp threads (default: progsynth's choice)")
    ap.add_argument("--model", default=None, help="GGUF path or alias (default: the embedded model)")
    ap.add_argument("--compare-threads", action="store_true", help="also measure 1 vs 2 threads")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    bench = get_benchmark("mbpp")
    problems = bench.load("test", DATA)
    prompts = {p.task_id: bench.prompt(p, PromptConfig(), DATA) for p in problems[: args.tasks + 2]}
    chosen = problems[2 : 2 + args.tasks]  # tasks 0 and 1 are kept for the reuse measurements
    load = os.getloadavg()[0]
    backend = LlamaCppBackend(model=args.model, threads=args.threads, parallel=8)  # unwrapped: raw access below
    figures: dict[str, Any] = {"backend": backend.describe(), "load_avg_1min_at_start": load}
    print(f"model {backend.name}, threads {backend.settings.threads}, load average {load:.2f}", flush=True)

    for p in chosen:  # every measured pass then starts from the same cache state
        raw_call(backend, prompts[p.task_id], max_tokens=1)
    figures.update(throughput(backend, chosen, prompts))

    first, second = problems[0], problems[1]
    reuse = reuse_speedup(backend, first, prompts[first.task_id], 8)
    figures["reuse_n8"] = reuse
    print(
        f"n=8: separate requests {reuse['separate_s']:.1f} s, one request {reuse['together_s']:.1f} s: "
        f"speed-up {reuse['speedup']:.1f}x (target >= 3x)",
        flush=True,
    )
    prefix = prefix_cost(backend, "unrelated text " * 20, prompts[first.task_id], prompts[second.task_id])
    figures["prefix"] = prefix
    print(
        f"task prompt: {prefix['cold_prompt_s']:.2f} s cold, "
        f"{prefix['cached_prefix_prompt_s']:.2f} s with the "
        f"3-shot prefix cached ({prefix['new_tokens_evaluated']} new tokens)",
        flush=True,
    )
    backend.close()

    if args.compare_threads:
        speeds = thread_probe(args.model, prompts[first.task_id])
        figures["decode_tok_s_by_threads"] = speeds
        print("decode tok/s by threads: " + ", ".join(f"{k}: {v:.1f}" for k, v in speeds.items()), flush=True)
    figures["load_avg_1min_at_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
