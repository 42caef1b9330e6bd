"""llama.cpp in-process on a local GGUF: the embedded default backend.

The runtime is ``xllamacpp``: llama.cpp's own server, started inside this process on a private
127.0.0.1 port guarded by a random API key. Its native ``/completion`` endpoint is used rather than
the OpenAI-style one because only the native one reports, per sample, why generation ended (stop
string, end of sequence, length cap) and how many tokens it produced. Speed comes from two
properties of that server, both measured in ``perf/generation.py``:

* ``n_cmpl``: the n samples of one task evaluate the prompt once and decode together;
* automatic prefix reuse: consecutive tasks share the few-shot prefix, so only the new task text is
  evaluated.

Tasks are therefore sent one after another (never interleaved), which keeps the cached prefix hot.

Reproducibility: sample ``k`` of a task is drawn with seed ``task_seed(seed, task_id) + k`` (the
server gives the i-th sample of a request the request's seed + i), so a rerun with the same
options gives the same samples. Not reproducible across thread counts, CPUs or runtime versions:
floating-point sums then differ and near-tied tokens flip, even under greedy decoding. The samples
of one request are decoded as a batch, so splitting a task differently (``parallel``) may change
them too. Greedy requests generate once and copy the answer n times.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from progsynth.backends.base import Backend
from progsynth.backends.common import PromptRejected, require_module, sample_seed, sample_within_context
from progsynth.backends.models import ResolvedModel, resolve_model
from progsynth.errors import BackendError
from progsynth.machine import usable_cores
from progsynth.options import OptionKind, OptionSpec
from progsynth.types import Completion, FinishReason, GenerationRequest

_STOP_TYPES = {"word": FinishReason.STOP, "eos": FinishReason.EOS, "limit": FinishReason.LENGTH}


def default_threads() -> int:
    """The cores nobody else is using right now (1-minute load average), at least one.

    llama.cpp threads meet at a barrier after every layer. When another process holds one of two
    cores, a 2-thread decode stalls at every barrier (measured here: 20 -> 5-8 tok/s, notes: 34 -> a
    few tok/s) while one thread keeps its speed; on an idle machine two threads are about 1.7x faster
    than one. So an idle machine gets every core and a busy one gets what is free.
    """
    cores = usable_cores()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        return max(1, cores // 2)
    return max(1, min(cores, round(cores - busy)))


@dataclass(frozen=True)
class LlamaCppOptions:
    """Validated options; ``ctx`` is the per-sequence context (prompt plus generation)."""

    threads: int
    batch_threads: int
    ctx: int
    parallel: int
    chat: bool
    gen_budget: int


class LlamaCppBackend(Backend):
    """Generates with a GGUF model through an in-process llama.cpp server.

    ``model``: None for the packaged default, an alias such as ``gemma3-270m``, or a .gguf path.
    """

    label: ClassVar[str] = "llamacpp"
    supports_chat: ClassVar[bool] = True
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("threads", OptionKind.INT, "llama.cpp threads (0 or 'auto': the cores that are idle now)",
                   flag="--threads", minimum=0),
        OptionSpec("batch_threads", OptionKind.INT, "threads for prompt evaluation (default: threads)", minimum=1),
        OptionSpec("ctx", OptionKind.INT, "context per sequence in tokens (prompt plus generation)",
                   default=8192, flag="--ctx", minimum=256),
        OptionSpec("parallel", OptionKind.INT, "samples of a task decoded together", default=8, minimum=1),
        OptionSpec("chat", OptionKind.BOOL, "wrap the prompt in the model's chat template", default=False),
        OptionSpec("gen_budget", OptionKind.INT, "tokens reserved per extra parallel sequence",
                   default=1024, minimum=1),
    )

    def __init__(self, model: str | os.PathLike[str] | None = None, **options: Any) -> None:
        if options.get("threads") == "auto":
            options["threads"] = None  # the documented spelling of "pick for me"
        opts = self.checked_options(options)
        threads = opts["threads"] or default_threads()
        self.settings = LlamaCppOptions(
            threads=threads,
            batch_threads=opts["batch_threads"] or threads,
            ctx=opts["ctx"],
            parallel=opts["parallel"],
            chat=opts["chat"],
            gen_budget=opts["gen_budget"],
        )
        self.model: ResolvedModel = resolve_model(model)
        self.name = f"llamacpp:{self.model.name}"
        self._runtime = require_module("xllamacpp", "llamacpp", "the llama.cpp backend")
        self._httpx = httpx = require_module("httpx", "llamacpp", "the llama.cpp backend")
        self._server = self._start_server()
        self._client: Any = httpx.Client(
            base_url=str(self._server.listening_address),
            headers={"Authorization": f"Bearer {self._key}"},
            timeout=httpx.Timeout(None, connect=10.0),
        )

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
        try:
            return xl.Server(params)
        except (RuntimeError, ValueError) as exc:  # the runtime's messages are generic
            raise BackendError(f"llama.cpp could not load {self.model.path}: {exc}") from None

    # --- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> list[Completion]:
        """``request.params.n`` samples: one prompt evaluation, decoded ``parallel`` at a time."""
        prompt = self._render(request.prompt)
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

    def _render(self, prompt: str) -> str:
        """The prompt as the model sees it: raw text, or a user turn in the model's chat template."""
        if not self.settings.chat:
            return prompt
        reply = self._post("/apply-template", {"messages": [{"role": "user", "content": prompt}]})
        return str(reply["prompt"])

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
            "batch_threads": self.settings.batch_threads,
            "ctx": self.settings.ctx,
            "parallel": self.settings.parallel,
            "chat": self.settings.chat,
        }

    def close(self) -> None:
        """Stop the server thread and free the model (also happens at interpreter exit)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._server = None


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
