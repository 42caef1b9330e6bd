"""Any OpenAI-compatible HTTP server: vLLM, llama.cpp's server, Ollama, hosted APIs; or several.

Completions (``/completions``, for the paper's few-shot prompt) or chat (``/chat/completions``)
endpoints; several samples per request with ``n``. 429/5xx replies, timeouts and dropped
connections raise ``TransientBackendError`` (with the server's ``Retry-After``): ``Managed`` retries
them and keeps ``concurrency`` tasks in flight (4 per endpoint unless told otherwise), as for every backend.

``base_url`` may list several replicas of the same model (comma-separated), each with its own
``endpoint_concurrency``: ``endpoints.EndpointPool`` sends each request to the least-loaded healthy
one, and a request that fails transiently on one is sent straight to another (not counted as a
retry; ``Managed`` retries only when every endpoint has failed it). Each completion records the
endpoint that produced it. The request body does not depend on the endpoint (same seed, same
parameters), so greedy samples differ between replicas only as far as the servers themselves do.
With several endpoints, ``concurrency`` (the total in flight) defaults to the sum of theirs.
The API key is read from an environment variable (``api_key_env``) at start-up and lives only in
the request headers: it is never written to a samples or results file, nor to an error message.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from progsynth.backends.base import Backend
from progsynth.backends.common import PromptRejected, require_module, sample_in_chunks, sample_seed
from progsynth.backends.endpoints import EndpointPool, EndpointSpec, parse_endpoints
from progsynth.errors import BackendError, TransientBackendError, UsageError
from progsynth.extraction import cut_at_stop
from progsynth.options import OptionKind, OptionSpec
from progsynth.types import Completion, FinishReason, GenerationRequest

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_FINISH = {"length": FinishReason.LENGTH, "eos": FinishReason.EOS, "stop": FinishReason.STOP}


@dataclass(frozen=True)
class OpenAIOptions:
    """Validated options (see ``OpenAIBackend.options``)."""

    base_url: str
    api_key_env: str
    chat: bool
    timeout: float
    max_n: int
    system_prompt: str | None
    endpoint_concurrency: str | None
    recheck_s: float


class OpenAIBackend(Backend):
    """Samples from an OpenAI-compatible server.

    ``model``: the server's model name (default: the first one ``/models`` lists).
    """

    label: ClassVar[str] = "openai"
    supports_chat: ClassVar[bool] = True
    default_concurrency: ClassVar[int] = 4
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("base_url", OptionKind.STR, "server URL, e.g. http://127.0.0.1:8080/v1, or several "
                   "replicas comma-separated (default: $OPENAI_BASE_URL)", flag="--base-url"),
        OptionSpec("endpoint_concurrency", OptionKind.STR, "requests in flight per server: one number, or one "
                   "per --base-url entry, comma-separated (default: 4 each)"),
        OptionSpec("recheck_s", OptionKind.FLOAT, "seconds a server that failed gets no work before it is "
                   "tried again", default=10.0, minimum=0),
        OptionSpec("api_key_env", OptionKind.STR, "environment variable holding the API key (unset: no key)",
                   default="OPENAI_API_KEY", flag="--api-key-env"),
        OptionSpec("chat", OptionKind.BOOL, "use /chat/completions instead of /completions", default=False),
        OptionSpec("timeout", OptionKind.FLOAT, "seconds per request", default=600.0, minimum=0, exclusive=True),
        OptionSpec("max_n", OptionKind.INT, "samples per request (1 for servers without n)", default=16, minimum=1),
        OptionSpec("system_prompt", OptionKind.STR, "system message before the prompt (chat only)"),
    )

    def __init__(self, model: str | None = None, **options: Any) -> None:
        opts = self.checked_options(options)
        base_url = str(opts["base_url"] or os.environ.get("OPENAI_BASE_URL") or "")
        specs = parse_endpoints(base_url, opts["endpoint_concurrency"], self.default_concurrency)
        self.settings = OpenAIOptions(**{**opts, "base_url": ",".join(s.url for s in specs)})
        self.endpoints = EndpointPool(specs, self.settings.recheck_s)
        httpx = require_module("httpx", "openai", "the OpenAI-compatible backend")
        self._httpx = httpx
        key = os.environ.get(self.settings.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._has_key = bool(key)
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.settings.timeout, connect=10.0),
            limits=httpx.Limits(max_connections=self.endpoints.capacity + 4),
        )
        self._max_n = self.settings.max_n
        self.model = self._start(specs, model)
        self.name = f"openai:{self.model}"

    def preferred_concurrency(self) -> int:
        """Every endpoint kept busy: the sum of their concurrency."""
        return self.endpoints.capacity

    # --- start-up -----------------------------------------------------------------------------

    def _start(self, specs: tuple[EndpointSpec, ...], model: str | None) -> str:
        """The model name, which every endpoint that lists its models must list. An endpoint that
        does not answer is left for its recheck (a warning says so); when none answers, the run
        fails fast."""
        listed: dict[str, list[str]] = {}
        down: list[TransientBackendError] = []
        for spec in specs:
            try:
                listed[spec.url] = self._probe(spec.url)
            except TransientBackendError as exc:
                down.append(exc)
                self.endpoints.mark_failed(spec.url)
        if not listed:  # no retries at start-up: a wrong URL must fail fast
            raise down[0].exhausted(1) from None
        for failure in down:
            warnings.warn(f"{failure}: left out until it answers", RuntimeWarning, stacklevel=3)
        first = next(iter(listed.values()))
        if model is None and not first:
            raise BackendError(f"{next(iter(listed))}/models lists no model: pass the model name")
        name = str(model or first[0])
        for url, models in listed.items():  # one server may accept names it does not list; replicas must agree
            if len(specs) > 1 and models and name not in models:
                raise UsageError(f"{url} does not serve model {name!r} (it lists {', '.join(models[:5])}): "
                                 "every endpoint must serve the same model")
        return name

    def _probe(self, url: str) -> list[str]:
        """The server's model ids. Fails with one line when the server or the key is wrong; a
        server without ``/models`` (404) is accepted."""
        try:
            data = self._call("GET", f"{url}/models", None)
        except _BadRequest:
            return []
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            return []
        return [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]

    # --- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> list[Completion]:
        """All ``n`` samples of one task, in as few requests as the server allows."""
        return sample_in_chunks(request, lambda: self._max_n, lambda n, offset: self._complete(request, n, offset))

    def _complete(self, request: GenerationRequest, n: int, offset: int) -> list[Completion]:
        body = self._body(request, n, offset)
        path = "chat/completions" if self.settings.chat else "completions"
        try:
            url, data = self._post_anywhere(path, body)
        except _BadRequest as exc:
            if n == 1:
                raise BackendError(f"{exc.url} rejected the request: {exc}") from None
            self._max_n = 1  # perhaps a server without ``n``: one sample per request from now on
            return self._complete(request, 1, offset)
        return [replace(c, endpoint=url) for c in self._parse(data, request, n)]

    def _post_anywhere(self, path: str, body: dict[str, Any]) -> tuple[str, Any]:
        """POST to the least-loaded healthy endpoint; on a transient failure, to the next one not
        yet tried. Raises the last TransientBackendError once every endpoint has failed this request
        (``Managed`` then waits and retries)."""
        tried: set[str] = set()
        last: TransientBackendError | None = None
        while (lease := self.endpoints.acquire(exclude=tried)) is not None:
            ok = True
            try:
                return lease.url, self._call("POST", f"{lease.url}/{path}", body)
            except TransientBackendError as exc:
                ok, last = False, exc
                tried.add(lease.url)
            finally:  # one release per acquire, whatever happened: no slot or failure counted twice
                self.endpoints.release(lease, ok)
        assert last is not None  # the pool returns None only once every endpoint was tried
        raise last

    def _body(self, request: GenerationRequest, n: int, offset: int) -> dict[str, Any]:
        p = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "n": n,
            "seed": sample_seed(request, offset),
        }
        if p.stop:
            body["stop"] = list(p.stop)[:4]  # the OpenAI API accepts at most four
        if p.top_k > 0:
            body["top_k"] = p.top_k  # an extension vLLM and llama.cpp accept
        if self.settings.chat:
            messages = [{"role": "user", "content": request.prompt}]
            if self.settings.system_prompt:
                messages.insert(0, {"role": "system", "content": self.settings.system_prompt})
            body["messages"] = messages
        else:
            body["prompt"] = request.prompt
        return body

    def _parse(self, data: Any, request: GenerationRequest, n: int) -> list[Completion]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise BackendError(f"{self.settings.base_url} replied without 'choices': {str(data)[:120]!r}")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens") if len(choices) == 1 else None
        ordered = sorted(choices, key=lambda c: int(c.get("index", 0)) if isinstance(c, dict) else 0)
        return [self._choice(c, request, tokens) for c in ordered[:n]]

    def _choice(self, choice: Any, request: GenerationRequest, tokens: Any) -> Completion:
        if not isinstance(choice, dict):
            raise BackendError(f"{self.settings.base_url} sent a malformed choice: {str(choice)[:120]!r}")
        message = choice.get("message")
        raw = message.get("content") if self.settings.chat and isinstance(message, dict) else choice.get("text")
        text, cut = cut_at_stop(str(raw or ""), request.params.stop)  # servers that echo the stop string
        reason = _FINISH.get(str(choice.get("finish_reason")), FinishReason.EOS)
        if reason is FinishReason.STOP and "stop_reason" in choice and choice["stop_reason"] is None:
            reason = FinishReason.EOS  # vLLM tells a stop string (a str) from the end of sequence (None)
        if cut:
            reason = FinishReason.STOP
        return Completion(text=text, finish_reason=reason, tokens=tokens if isinstance(tokens, int) else None)

    # --- HTTP ---------------------------------------------------------------------------------

    def _call(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        """One API call; failures worth retrying raise TransientBackendError, the rest a one-line error."""
        try:
            response = self._client.request(method, url, json=body)
        except self._httpx.TransportError as exc:  # refused, reset, timed out
            what = "cannot connect to" if isinstance(exc, self._httpx.ConnectError) else "no reply from"
            raise TransientBackendError(f"{what} {url} ({type(exc).__name__})") from None
        return self._check(response, url)

    def _check(self, response: Any, url: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            hint = f"check ${self.settings.api_key_env}" if self._has_key else f"set ${self.settings.api_key_env}"
            raise BackendError(f"{url} rejected the API key (HTTP {status}): {hint}")
        try:
            data = response.json()
        except ValueError:
            data = None
        message = _error_message(data) or " ".join(response.text[:120].split())
        if status in RETRY_STATUS:
            raise TransientBackendError(f"{url}: HTTP {status}", _retry_after(response), message)
        if status == 400 and _is_context_error(message):
            raise PromptRejected(f"prompt exceeds the model's context: {message}")
        if status in (400, 404, 422):
            raise _BadRequest(f"HTTP {status}: {message}", url)
        if status != 200:
            raise BackendError(f"{url}: HTTP {status} after 1 attempt(s): {message}")
        if data is None:
            raise BackendError(f"{url} returned a reply that is not JSON: {response.text[:80]!r}")
        return data

    # --- bookkeeping --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Settings for the results file; the key itself is never included, only its variable."""
        o = self.settings
        return {
            **super().describe(),
            "model": self.model,
            "base_url": o.base_url,
            "endpoint": "chat/completions" if o.chat else "completions",
            "api_key_env": o.api_key_env,
            "max_n": self._max_n,
            "endpoints": self.endpoints.snapshot(),
        }

    def close(self) -> None:
        self._client.close()


class _BadRequest(Exception):
    """A 400/404/422 reply: the request (not the server) is wrong, so no other endpoint is tried."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


def _error_message(data: Any) -> str:
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        if err:
            return str(err)[:300]
    return ""


def _retry_after(response: Any) -> float | None:
    """The delay a ``Retry-After`` header asks for, in seconds (the HTTP-date form is ignored)."""
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _is_context_error(message: str) -> bool:
    low = message.lower()
    return "context" in low and ("length" in low or "size" in low or "exceed" in low or "maximum" in low)
