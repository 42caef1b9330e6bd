"""llama.cpp in-process on a local GGUF: the embedded default backend.

The runtime is ``xllamacpp``: llama.cpp's own server, started inside this process on a private
127.0.0.1 port guarded by a random API key. Its native ``/completion`` endpoint is used rather than
the OpenAI-style one because only the native one reports, per sample, why generation ended (stop
string, end of sequence, length cap) and how many tokens it produced. Speed comes from two
properties of that server, both measured in ``perf/generation.py``:

* ``n_cmpl``: the n samples of one task evaluate the prompt once and decode together;
* automatic prefix reuse: consecutive tasks share the few-shot prefix, so only the new task text is
  evaluated.

Throughput, chosen automatically (figures from ``perf/generation.py``, see its output):

* threads: unless ``threads`` is given, the cores that are free now (``backends/threads.py``:
  measured from ``/proc/stat`` over 0.4 s at start, this run's own CPU counted as free), then
  re-measured every ``adapt_s`` seconds from snapshots between requests; when two windows in a row
  agree on another count the server is restarted between tasks with it (llama.cpp cannot change
  its threads while running). No sample is lost or drawn twice: a task is never split by it.
  Measured on 2 idle cores: 2 threads decode 23 tok/s, 1 thread 12.4; beside a busy loop 2 threads
  fall to 2-5 tok/s while 1 keeps 12.5, which is why a core must be nearly all free to count.
* greedy ``streams``: ``STREAMS`` single-sample tasks are decoded together in one batch
  (``default_concurrency``, so ``Managed`` sends that many at once); the others queue at the gate.
  Measured (12 MBPP test tasks, 2 threads): 1 stream 16 tok/s, 2 streams on one server 20-22,
  two 1-thread servers (one stream per core) 17.5.
* many samples: a task with more samples than slots takes the whole server and, unless
  ``parallel`` is given, grows its slots to the sample count (up to ``AUTO_PARALLEL_MAX``, one
  restart), so the 80 samples of the paper's protocol decode as one batch. Measured aggregate
  tok/s at T=0.5: n=1 22, n=8 58, n=20 62, n=80 83 (still rising, so no cap below 80).

LoRA adapters: ``lora`` names a GGUF LoRA adapter (``general.type=adapter``, as ``progsynth
finetune`` writes one) that llama.cpp applies at load time at ``lora_scale``, so a tuned model
generates at llama.cpp speed without a merged copy of its weights (measured about 10% slower than
the base). The adapter is bound to the server rather than set per request: this llama.cpp reuses a
cached prompt across requests that set other LoRA scales, so one server serves one model.

Reproducibility: sample ``k`` of a task is drawn with seed ``task_seed(seed, task_id) + k`` (the
server gives the i-th sample of a request the request's seed + i), so a rerun with the same
options gives the same samples. Not reproducible across thread counts, CPUs or runtime versions:
floating-point sums then differ and near-tied tokens flip, even under greedy decoding; so a run
whose thread count changed midway (``describe()["thread_changes"]``) may differ slightly, task by
task, from one that kept a single count. The samples of one request are decoded as a batch, and
greedy tasks in streams share batches, so batch composition may change them too. Greedy requests
generate once and copy the answer n times.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from progsynth.backends.base import Backend
from progsynth.backends.common import (
    PromptRejected,
    require_module,
    sample_count,
    sample_seed,
    sample_within_context,
)
from progsynth.backends.gate import Gate
from progsynth.backends.models import ResolvedModel, resolve_model, sha256_file
from progsynth.backends.threads import ThreadChoice, ThreadMonitor, current_choice, thread_cores
from progsynth.errors import BackendError
from progsynth.options import OptionKind, OptionSpec
from progsynth.types import Completion, FinishReason, GenerationRequest

_STOP_TYPES = {"word": FinishReason.STOP, "eos": FinishReason.EOS, "limit": FinishReason.LENGTH}

#: Greedy tasks decoded together by default (``Managed`` sends this many at once): see the module
#: docstring for the measurement behind it.
STREAMS = 2
#: Slots of a fresh server; a request with more samples grows them (one restart) up to AUTO_PARALLEL_MAX.
AUTO_PARALLEL = 8
AUTO_PARALLEL_MAX = 80
#: Thread changes kept for ``describe()`` (a run that flaps for hours must not grow its record).
MAX_CHANGES_KEPT = 20


def default_threads() -> int:
    """The thread count a run gets unless told: see ``progsynth.backends.threads`` (takes ~0.4 s)."""
    return current_choice().threads


@dataclass(frozen=True)
class LlamaCppOptions:
    """Validated options; ``ctx`` is the per-sequence context (prompt plus generation)."""

    threads: int
    batch_threads: int
    ctx: int
    parallel: int
    chat: bool
    gen_budget: int
    streams: int
    lora: str | None
    lora_scale: float


class LlamaCppBackend(Backend):
    """Generates with a GGUF model through an in-process llama.cpp server.

    ``model``: None for the packaged default, an alias such as ``gemma3-270m``, or a .gguf path.
    Unless ``threads`` is given, the thread count follows the machine: measured at start and
    re-measured every ``adapt_s`` seconds between requests, restarting the server when it changes.
    """

    label: ClassVar[str] = "llamacpp"
    supports_chat: ClassVar[bool] = True
    supports_reply_prefix: ClassVar[bool] = True
    default_concurrency: ClassVar[int] = STREAMS
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("threads", OptionKind.INT, "llama.cpp threads (0 or 'auto': the cores that are free now, "
                   "re-measured during the run)", flag="--threads", minimum=0),
        OptionSpec("batch_threads", OptionKind.INT, "threads for prompt evaluation (default: threads)", minimum=1),
        OptionSpec("ctx", OptionKind.INT, "context per sequence in tokens (prompt plus generation)",
                   default=8192, flag="--ctx", minimum=256),
        OptionSpec("parallel", OptionKind.INT, "samples of a task decoded together (default: "
                   f"{AUTO_PARALLEL}, raised to a task's sample count up to {AUTO_PARALLEL_MAX})", minimum=1),
        OptionSpec("streams", OptionKind.INT, "single-sample (greedy) tasks decoded together",
                   default=STREAMS, minimum=1),
        OptionSpec("chat", OptionKind.BOOL, "wrap the prompt in the model's chat template", default=False),
        OptionSpec("gen_budget", OptionKind.INT, "tokens reserved per extra parallel sequence",
                   default=1024, minimum=1),
        OptionSpec("adapt_s", OptionKind.FLOAT, "seconds between re-measurements of the free cores (0: never)",
                   default=20.0, minimum=0),
        OptionSpec("lora", OptionKind.STR, "a GGUF LoRA adapter applied to the model (see progsynth finetune)"),
        OptionSpec("lora_scale", OptionKind.FLOAT, "scale of the LoRA adapter (0: the base model)",
                   default=1.0, minimum=0),
    )

    def __init__(self, model: str | os.PathLike[str] | None = None, **options: Any) -> None:
        if options.get("threads") == "auto":
            options["threads"] = None  # the documented spelling of "pick for me"
        opts = self.checked_options(options)
        self.model: ResolvedModel = resolve_model(model)
        self.name = f"llamacpp:{self.model.name}"
        self.lora_sha256: str | None = None
        if opts["lora"] is not None:
            lora = _lora_file(opts["lora"])
            opts["lora"], self.lora_sha256 = str(lora), sha256_file(lora)
            self.name += f"+lora:{lora.parent.name if lora.name == 'adapter.gguf' else lora.stem}"
        self._runtime = require_module("xllamacpp", "llamacpp", "the llama.cpp backend")
        self._httpx = require_module("httpx", "llamacpp", "the llama.cpp backend")
        auto = not opts["threads"]
        choice = current_choice() if auto else ThreadChoice(opts["threads"], "set by option threads")
        self._batch_threads_option: int | None = opts["batch_threads"]
        self._grow_parallel = opts["parallel"] is None
        self.settings = LlamaCppOptions(
            threads=choice.threads,
            batch_threads=opts["batch_threads"] or choice.threads,
            ctx=opts["ctx"],
            parallel=opts["parallel"] or max(AUTO_PARALLEL, opts["streams"]),
            chat=opts["chat"],
            gen_budget=opts["gen_budget"],
            streams=opts["streams"],
            lora=opts["lora"],
            lora_scale=opts["lora_scale"],
        )
        self.thread_reason = choice.reason
        self.thread_changes: list[dict[str, Any]] = []
        self._started = time.monotonic()
        self._monitor = ThreadMonitor(thread_cores(), opts["adapt_s"]) if auto and opts["adapt_s"] else None
        self._adapt_lock = threading.Lock()
        self._gate = Gate(opts["streams"])
        self._server, self._client = self._start()

    def _start(self) -> tuple[Any, Any]:
        """A server with the current settings and a client for it (a new key and port each time)."""
        server = self._start_server()
        client = self._httpx.Client(
            base_url=str(server.listening_address),
            headers={"Authorization": f"Bearer {self._key}"},
            timeout=self._httpx.Timeout(None, connect=10.0),
        )
        return server, client

    def _start_server(self) -> Any:
        xl, opts = self._runtime, self.settings
        params = xl.CommonParams()
        params.model.path = str(self.model.path)
        params.n_parallel = opts.parallel
        params.kv_unified = True  # one KV pool: the samples of a task share the prompt's cells
        params.n_ctx = opts.ctx + (opts.parallel - 1) * opts.gen_budget
        params.cpuparams.n_threads = opts.threads
        params.cpuparams_batch.n_threads = opts.batch_threads
        params.port = 0  # any free port on 127.0.0.1
        params.hostnames = ["127.0.0.1"]
        self._key = secrets.token_hex(16)
        params.api_keys = [self._key]
        params.warmup = False
        params.verbosity = -1
        if opts.lora is not None:
            params.lora_adapters = [xl.CommonAdapterLoraInfo(opts.lora, opts.lora_scale)]
        try:
            return xl.Server(params)
        except (RuntimeError, ValueError) as exc:  # the runtime's messages are generic
            raise BackendError(f"llama.cpp could not load {self.model.path}: {exc}") from None

    def _restart(self, **changes: Any) -> None:
        """A new server with ``changes`` to the settings; the caller holds the whole gate.

        llama.cpp's server cannot change its thread count or slot count while running (no endpoint,
        and xllamacpp exposes no ``llama_set_n_threads``), so this stops it and loads the model again
        (about 2 s, measured) and the next task evaluates its prompt without the cached prefix.
        """
        self.settings = replace(self.settings, **changes)
        self._stop()
        self._server, self._client = self._start()

    def _adapt(self) -> None:
        """Between tasks: follow the machine's free cores when a re-measurement disagrees."""
        if self._monitor is None:
            return
        with self._adapt_lock:
            choice = self._monitor.check(self.settings.threads)
            if choice is None:
                return
            with self._gate.hold(exclusive=True):
                before = self.settings.threads
                self._restart(threads=choice.threads, batch_threads=self._batch_threads_option or choice.threads)
            self.thread_reason = choice.reason
            change = {"after_s": round(time.monotonic() - self._started, 1), "from": before,
                      "to": choice.threads, "reason": choice.reason}
            self.thread_changes = [*self.thread_changes, change][-MAX_CHANGES_KEPT:]

    def _fit_slots(self, wanted: int) -> None:
        """Grow the slots (once per size, while exclusive) so ``wanted`` samples decode together."""
        target = min(wanted, AUTO_PARALLEL_MAX)
        if self._grow_parallel and target > self.settings.parallel:
            self._restart(parallel=target)

    # --- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> list[Completion]:
        """``request.params.n`` samples: one prompt evaluation, decoded ``parallel`` at a time."""
        self._adapt()
        wanted = sample_count(request)
        with self._gate.hold(exclusive=wanted > 1):
            if wanted > 1:
                self._fit_slots(wanted)
            return self._generate(request)

    def _generate(self, request: GenerationRequest) -> list[Completion]:
        prompt = self._render(request.prompt, request.reply_prefix)
        return sample_within_context(
            request,
            prompt_tokens=self.count_tokens(prompt, special=True),
            ctx=self.settings.ctx,
            chunk_size=lambda: self.settings.parallel,
            draw=lambda n, offset, max_new: self._complete(request, prompt, n, offset, max_new),
            hint="option ctx",
        )

    def _complete(
        self, request: GenerationRequest, prompt: str, n: int, offset: int, max_tokens: int
    ) -> list[Completion]:
        p = request.params
        body = {
            "prompt": prompt,
            "n_predict": max_tokens,
            "n_cmpl": n,
            "temperature": p.temperature,
            "top_k": p.top_k,
            "top_p": p.top_p,
            "min_p": 0.0,  # the server's defaults (top_k 40, top_p 0.95, min_p 0.05) are not the paper's
            "stop": list(p.stop),
            "seed": sample_seed(request, offset),  # the server gives sample i the seed + i
            "cache_prompt": True,
        }
        reply = self._post("/completion", body)
        results = reply if isinstance(reply, list) else [reply]
        results = sorted(results, key=lambda r: int(r.get("index", 0)))
        if len(results) != n:
            raise BackendError(f"llama.cpp returned {len(results)} samples for n={n}")
        return [_to_completion(r) for r in results]

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = self._client.post(path, json=body)
        except self._httpx.HTTPError as exc:
            raise BackendError(f"llama.cpp server stopped answering ({type(exc).__name__}: {exc})") from None
        data = response.json()
        if response.status_code == 400 and isinstance(data, dict) and "context" in _error_text(data):
            raise PromptRejected(_error_text(data))  # too long for the context: a failed generation
        if response.status_code != 200:
            raise BackendError(f"llama.cpp server error (HTTP {response.status_code}): {_error_text(data)}")
        return data

    def _render(self, prompt: str, reply_prefix: str = "") -> str:
        """The prompt as the model sees it: raw text, or a user turn in the model's chat template
        followed by the opened assistant turn and ``reply_prefix``."""
        if not self.settings.chat:
            return prompt
        reply = self._post("/apply-template", {"messages": [{"role": "user", "content": prompt}]})
        return str(reply["prompt"]) + reply_prefix

    def count_tokens(self, text: str, special: bool = False) -> int:
        """Tokens of ``text`` for this model (``special``: as a prompt, with any BOS token)."""
        reply = self._post("/tokenize", {"content": text, "add_special": special})
        return len(reply["tokens"])

    def describe(self) -> dict[str, Any]:
        """What the results file records about the model and runtime."""
        return {
            **super().describe(),
            "runtime": "xllamacpp",
            "runtime_version": str(getattr(self._runtime, "__version__", "unknown")),
            "model_path": str(self.model.path),
            "model_sha256": self.model.sha256,
            "threads": self.settings.threads,
            "thread_reason": self.thread_reason,
            "thread_changes": list(self.thread_changes),
            "batch_threads": self.settings.batch_threads,
            "ctx": self.settings.ctx,
            "parallel": self.settings.parallel,
            "streams": self.settings.streams,
            "chat": self.settings.chat,
            **({"lora": self.settings.lora, "lora_sha256": self.lora_sha256, "lora_scale": self.settings.lora_scale}
               if self.settings.lora is not None else {}),
        }

    def close(self) -> None:
        """Stop the server thread and free the model (also happens at interpreter exit)."""
        self._stop()

    def _stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._server = None  # the last reference: xllamacpp stops the server and frees the model


def _lora_file(path: str) -> Path:
    """The adapter file, refused early: llama.cpp's own refusal is a generic load failure."""
    lora = Path(path).expanduser()
    if not lora.is_file():
        raise BackendError(f"LoRA adapter {lora}: no such file")
    return lora.resolve()


def _to_completion(result: dict[str, Any]) -> Completion:
    reason = _STOP_TYPES.get(str(result.get("stop_type")), FinishReason.ERROR)
    error = None if reason is not FinishReason.ERROR else f"generation ended with {result.get('stop_type')!r}"
    return Completion(
        text=str(result.get("content", "")),
        finish_reason=reason,
        tokens=int(result.get("tokens_predicted", 0)),
        error=error,
    )


def _error_text(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message", data["error"]))
    return str(data)[:200]
