"""Generation speed: progsynth against the runtime alone, the thread choice, and sampling at scale.

Prints, in one run, on the default model (or ``--model``), with the load average and ``top``:

1. the thread choice as found and with a bounded CPU hog started outside this process tree, and
   the decode tok/s of 1 and 2 threads in each state (is the choice the faster one?);
2. greedy MBPP test tasks: tokens/s of the raw runtime (llama.cpp's HTTP API driven with httpx, no
   progsynth code) with one stream and with ``streams`` tasks at once, two 1-thread servers (one
   stream per core), and progsynth end to end (``progsynth.run.pipeline.run`` with the default
   ``Managed`` concurrency: generation, samples file, sandboxed execution, results). Target: end to
   end / raw (same streams) >= 0.95;
3. the 80-sample protocol: aggregate generated tokens/s for n = 1, 8, 20, 80 samples of one task
   (T = 0.5, the paper's stop and 512-token cap), progsynth's backend beside the raw ``n_cmpl``
   request on the same server and cached prompt, and the projected time of 500 tasks x 80 samples.

Numbers on a shared 2-core machine are noisy: run it on a quiet machine and report the load.
Usage: python perf/generation.py [--tasks 6] [--ns 1,8,20,80] [--max-tokens 512] [--model PATH]
       [--skip-hog] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from progsynth.backends.llamacpp import LlamaCppBackend
from progsynth.backends.managed import Managed
from progsynth.backends.threads import current_choice
from progsynth.benchmarks import DataConfig, PromptConfig, get_benchmark
from progsynth.run.config import RunConfig
from progsynth.types import GenerationRequest, SamplingParams

ROOT = Path(__file__).resolve().parents[1]
DATA = DataConfig(data_dir=Path(os.environ.get("PROGSYNTH_DATA_DIR") or ROOT.parent / "shared" / "data"))
STOP = ["[DONE]"]
PAPER_TASKS, PAPER_SAMPLES = 500, 80


def machine_state(label: str) -> dict[str, Any]:
    """Load average and the head of ``top``, printed and returned (every figure needs them)."""
    load = os.getloadavg()
    top = subprocess.run(["top", "-bn1"], capture_output=True, text=True, timeout=20).stdout
    head = "\n".join(top.splitlines()[:15])
    print(f"--- machine {label}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n{head}\n---", flush=True)
    return {"load_avg": load, "top": head}


class RawServer:
    """The runtime's own HTTP API on a server progsynth started: plain httpx, no progsynth code."""

    def __init__(self, backend: LlamaCppBackend) -> None:
        self.url = f"{backend._server.listening_address}/completion"  # the raw runtime, on purpose
        self.headers = {"Authorization": f"Bearer {backend._key}"}

    def complete(self, prompt: str, **fields: Any) -> list[dict[str, Any]]:
        body = {"prompt": prompt, "n_predict": 512, "temperature": 0.0, "stop": STOP, "cache_prompt": True, **fields}
        reply = httpx.post(self.url, json=body, headers=self.headers, timeout=None).json()
        return reply if isinstance(reply, list) else [reply]

    def tokens(self, prompt: str, **fields: Any) -> int:
        return sum(int(r["tokens_predicted"]) for r in self.complete(prompt, **fields))


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    tokens = fn()
    return tokens, time.perf_counter() - started


def in_streams(servers: list[RawServer], prompts: list[str], streams: int) -> int:
    """Greedy prompts over ``streams`` client threads, each taking the next prompt when free (as
    ``Managed`` does); stream i talks to ``servers[i % len(servers)]``."""
    counts, todo, lock = [0] * streams, iter(prompts), threading.Lock()

    def worker(i: int) -> None:
        while True:
            with lock:
                prompt = next(todo, None)
            if prompt is None:
                return
            counts[i] += servers[i % len(servers)].tokens(prompt)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


# --- 1. thread choice, as found and loaded ------------------------------------------------------


def start_hog(seconds: int = 120) -> int:
    """A busy loop outside this process tree (the shell exits, so it is not our descendant and
    counts as another user's load), bounded by ``timeout``; returns its pid."""
    line = f"timeout {seconds} {sys.executable} -c 'while 1: pass' >/dev/null 2>&1 & echo $!"
    return int(subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=10).stdout)


def decode_speed(model: str | None, threads: int, prompt: str) -> float:
    """Decode tok/s of 64 forced tokens on a fresh 1-slot server with ``threads`` threads."""
    with LlamaCppBackend(model=model, threads=threads, parallel=1, streams=1) as be:
        raw = RawServer(be)
        raw.complete(prompt, n_predict=1)
        reply = raw.complete(prompt, n_predict=64, ignore_eos=True, stop=[])[0]
        return float(reply["timings"]["predicted_per_second"])


def thread_section(model: str | None, prompt: str, hog: bool) -> list[dict[str, Any]]:
    rows = []
    for label, hogs in (("as found", 0), ("with 1 CPU hog", 1)) if hog else (("as found", 0),):
        pids = [start_hog() for _ in range(hogs)]
        try:
            time.sleep(1.0 if hogs else 0.0)
            load = os.getloadavg()[0]
            choice = current_choice()
            speeds = {t: decode_speed(model, t, prompt) for t in (1, 2)}
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGTERM)
        best = max(speeds, key=lambda t: speeds[t])
        verdict = "the faster one" if best == choice.threads else f"NOT the faster one ({best} was)"
        print(f"{label} (load avg {load:.2f}): chose {choice.threads} threads ({choice.reason}); decode "
              f"1 thread {speeds[1]:.1f} tok/s, 2 threads {speeds[2]:.1f} tok/s: {verdict}", flush=True)
        rows.append({"state": label, "load_avg": load, "threads": choice.threads, "reason": choice.reason,
                     "decode_tok_s": speeds})
    return rows


# --- 2. greedy: raw streams vs progsynth end to end ---------------------------------------------


def progsynth_pass(backend: Managed, task_ids: list[str]) -> int:
    """The runner, end to end, on a fresh run directory: generation + samples + execution + results."""
    from progsynth.run.pipeline import run

    with tempfile.TemporaryDirectory() as out:
        cfg = RunConfig(out_dir=Path(out), benchmark="mbpp", task_ids=tuple(task_ids),
                        sampling=SamplingParams(max_tokens=512), data=DATA)
        run(cfg, backend=backend, show_progress=False)
        return sum(int(json.loads(line).get("tokens") or 0) for line in (Path(out) / "samples.jsonl").open())


def greedy_section(model: str | None, backend: LlamaCppBackend, ids: list[str], prompts: list[str]) -> dict[str, Any]:
    """Raw 1 stream, raw ``streams`` streams and progsynth end to end, alternated twice."""
    raw, streams = RawServer(backend), backend.settings.streams
    managed = Managed(backend)
    for p in prompts:  # every measured pass then starts from the same cache state
        raw.complete(p, n_predict=1)
    totals: dict[str, list[float]] = {"raw 1 stream": [0, 0], f"raw {streams} streams": [0, 0], "progsynth": [0, 0]}
    for _ in range(2):
        for label, fn in (("raw 1 stream", lambda: in_streams([raw], prompts, 1)),
                          (f"raw {streams} streams", lambda: in_streams([raw], prompts, streams)),
                          ("progsynth", lambda: progsynth_pass(managed, ids))):
            tokens, seconds = timed(fn)
            totals[label][0] += tokens
            totals[label][1] += seconds
            print(f"  {label:16s} {tokens:5d} tokens in {seconds:6.1f} s = {tokens / seconds:5.1f} tok/s", flush=True)
    rates = {k: t / s for k, (t, s) in totals.items()}
    pair = [LlamaCppBackend(model=model, threads=1, parallel=1, streams=1) for _ in range(2)]
    try:
        servers = [RawServer(be) for be in pair]
        for i, p in enumerate(prompts):
            servers[i % 2].complete(p, n_predict=1)
        tokens, seconds = timed(lambda: in_streams(servers, prompts, 2))
        rates["raw 2 servers x 1 thread"] = tokens / seconds
    finally:
        for be in pair:
            be.close()
    ratio = rates["progsynth"] / rates[f"raw {streams} streams"]
    print("greedy tok/s: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()), flush=True)
    print(f"progsynth end to end / raw ({streams} streams, {backend.settings.threads} threads): {ratio:.2f} "
          "(target >= 0.95)", flush=True)
    return {"tok_s": rates, "ratio": ratio, "threads": backend.settings.threads, "streams": streams}


# --- 3. the 80-sample protocol ------------------------------------------------------------------


def sample_row(backend: LlamaCppBackend, raw: RawServer, request: GenerationRequest) -> dict[str, Any]:
    """One task's n samples twice from a cached prompt: the raw n_cmpl request, then progsynth's."""
    p = request.params
    raw.complete(request.prompt, n_predict=1)
    raw_tokens, raw_s = timed(lambda: raw.tokens(request.prompt, n_cmpl=p.n, n_predict=p.max_tokens,
                                                 temperature=p.temperature, top_k=0, top_p=1.0, min_p=0.0, seed=7))
    ps_tokens, ps_s = timed(lambda: sum(c.tokens or 0 for c in backend.generate(request)))
    return {"n": p.n, "raw_tok_s": raw_tokens / raw_s, "progsynth_tok_s": ps_tokens / ps_s,
            "task_s": ps_s, "tokens": ps_tokens}


def sampling_section(backend: LlamaCppBackend, problems: list[Any], prompts: list[str], ns: list[int],
                     max_tokens: int) -> list[dict[str, Any]]:
    """Aggregate tok/s of n samples of one task, progsynth's backend vs the raw n_cmpl request."""
    backend.generate(GenerationRequest(problems[0], prompts[0], SamplingParams(n=max(ns), temperature=0.5,
                                                                               max_tokens=1)))  # grow slots
    raw, rows = RawServer(backend), []
    print(f"{'n':>4} {'raw tok/s':>10} {'progsynth tok/s':>16} {'ratio':>6} {'s/task':>7} {'tokens':>7}", flush=True)
    for i, n in enumerate(ns):
        problem, prompt = problems[i % len(problems)], prompts[i % len(prompts)]
        row = sample_row(backend, raw, GenerationRequest(problem, prompt, SamplingParams(
            n=n, temperature=0.5, max_tokens=max_tokens, seed=7, stop=tuple(STOP))))
        rows.append(row)
        print(f"{n:4d} {row['raw_tok_s']:10.1f} {row['progsynth_tok_s']:16.1f} "
              f"{row['progsynth_tok_s'] / row['raw_tok_s']:6.2f} {row['task_s']:7.1f} {row['tokens']:7d}", flush=True)
    full = [r for r in rows if r["n"] == PAPER_SAMPLES]
    if full:
        hours = full[0]["task_s"] * PAPER_TASKS / 3600
        print(f"projected: {PAPER_TASKS} tasks x {PAPER_SAMPLES} samples = {hours:.1f} h on this machine "
              f"(one task measured; lengths vary by task)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=6, help="MBPP test tasks in the greedy comparison")
    ap.add_argument("--ns", default="1,8,20,80", help="sample counts of the aggregate table")
    ap.add_argument("--max-tokens", type=int, default=512, help="token cap per sample in the table")
    ap.add_argument("--model", default=None, help="GGUF path or alias (default: the embedded model)")
    ap.add_argument("--skip-hog", action="store_true", help="no loaded-machine measurement")
    ap.add_argument("--skip", default="", help="sections to skip: threads,greedy,sampling")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    skip = set(args.skip.split(","))

    bench = get_benchmark("mbpp")
    problems = bench.load("test", DATA)[: args.tasks + 4]
    prompts = [bench.prompt(p, PromptConfig(), DATA) for p in problems]
    figures: dict[str, Any] = {"start": machine_state("at start")}
    if "threads" not in skip:
        figures["thread_choice"] = thread_section(args.model, prompts[0], not args.skip_hog)
    # unwrapped for raw access; defaults except adapt_s=0: a restart mid-comparison would move the server
    backend = LlamaCppBackend(model=args.model, adapt_s=0)
    figures["backend"] = backend.describe()
    print(f"model {backend.name}: {backend.settings.threads} threads ({backend.thread_reason}), "
          f"{backend.settings.streams} greedy streams", flush=True)
    try:
        if "greedy" not in skip:
            chosen = problems[4 : 4 + args.tasks]
            figures["greedy"] = greedy_section(args.model, backend, [p.task_id for p in chosen], prompts[4:])
        if "sampling" not in skip:
            ns = [int(x) for x in args.ns.split(",")]
            figures["sampling"] = sampling_section(backend, problems[:4], prompts[:4], ns, args.max_tokens)
    finally:
        backend.close()
    figures["end"] = machine_state("at end")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
