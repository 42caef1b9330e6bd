"""Any OpenAI-compatible HTTP server: vLLM, llama.cpp's server, Ollama, hosted APIs.

Completions (``/completions``, for the paper's few-shot prompt) or chat (``/chat/completions``)
endpoints; several samples per request with ``n``; bounded concurrency across tasks through
``generate_many``; retries with exponential backoff on 429/5xx, timeouts and dropped connections.
The API key is read from an environment variable (``api_key_env``) at start-up and lives only in
the request headers: it is never written to a samples or results file, nor to an error message.

Transient failures that outlast the retries stop the run with a BackendError instead of recording
failed samples: a resumed run then generates those tasks, whereas a recorded failure would be final.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from progsynth.backends.common import (
    as_bool,
    cut_at_stop,
    error_completions,
    positive_float,
    positive_int,
    replicate,
    require_module,
    sample_count,
    sample_seed,
)
from progsynth.errors import BackendError, UsageError
from progsynth.types import Completion, FinishReason, GenerationRequest

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_FINISH = {"length": FinishReason.LENGTH, "eos": FinishReason.EOS, "stop": FinishReason.STOP}


@dataclass(frozen=True)
class OpenAIOptions:
    """Validated options (see ``OpenAIBackend``)."""

    base_url: str
    api_key_env: str
    chat: bool
    concurrency: int
    timeout_s: float
    retries: int
    backoff_s: float
    max_n: int
    system_prompt: str | None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> OpenAIOptions:
        base_url = str(raw.pop("base_url", None) or os.environ.get("OPENAI_BASE_URL") or "")
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"openai backend needs base_url=http(s)://host:port/v1, got {base_url!r}")
        return cls(
            base_url=base_url.rstrip("/"),
            api_key_env=str(raw.pop("api_key_env", "OPENAI_API_KEY")),
            chat=as_bool("chat", raw.pop("chat", False)),
            concurrency=positive_int("concurrency", raw.pop("concurrency", 4)),
            timeout_s=positive_float("timeout", raw.pop("timeout", 600.0)),
            retries=positive_int("retries", raw.pop("retries", 5), minimum=0),
            backoff_s=positive_float("backoff", raw.pop("backoff", 1.0)),
            max_n=positive_int("max_n", raw.pop("max_n", 16)),
            system_prompt=raw.pop("system_prompt", None),
        )


class OpenAIBackend:
    """Samples from an OpenAI-compatible server.

    Options: ``model`` (the server's model name; default: the first one ``/models`` lists),
    ``base_url`` (e.g. ``http://127.0.0.1:8080/v1``; default ``$OPENAI_BASE_URL``), ``api_key_env``
    (default ``OPENAI_API_KEY``; unset means no key), ``chat``, ``concurrency`` (requests in flight),
    ``timeout`` (seconds per request), ``retries``, ``backoff`` (first retry delay, doubling),
    ``max_n`` (samples per request; 1 for servers without ``n``), ``system_prompt`` (chat only).
    """

    def __init__(self, model: str | None = None, **options: Any) -> None:
        raw = dict(options)
        self.options = OpenAIOptions.parse(raw)
        if raw:
            raise UsageError(f"unknown openai backend option(s): {', '.join(sorted(raw))}")
        httpx = require_module("httpx", "openai", "the OpenAI-compatible backend")
        self._httpx = httpx
        key = os.environ.get(self.options.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._has_key = bool(key)
        self._client = httpx.Client(
            base_url=self.options.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(self.options.timeout_s, connect=10.0),
        )
        self._max_n = self.options.max_n
        listed = self._probe()
        if model is None and not listed:
            raise BackendError(f"{self.options.base_url}/models lists no model: pass the model name")
        self.model = str(model or listed[0])
        self.name = f"openai:{self.model}"

    # --- start-up -----------------------------------------------------------------------------

    def _probe(self) -> list[str]:
        """The server's model ids. Fails fast, with one line, when the server or the key is wrong;
        a server without ``/models`` (404) is accepted."""
        try:
            data = self._call("GET", "models", None, retry=False)
        except _BadRequest:
            return []
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            return []
        return [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]

    # --- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> list[Completion]:
        """All ``n`` samples of one task, in as few requests as the server allows."""
        wanted = sample_count(request)
        out: list[Completion] = []
        while len(out) < wanted:
            batch = self._complete(request, min(self._max_n, wanted - len(out)), len(out))
            if batch and batch[0].finish_reason is FinishReason.ERROR and not out:
                return replicate(batch, request.params.n)[: request.params.n]
            out.extend(batch)
        return replicate(out[:wanted], request.params.n)

    def generate_many(
        self, requests: Iterable[GenerationRequest]
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        """Tasks ``concurrency`` at a time, yielded as they finish; a BackendError stops them all."""
        pending: dict[Future[list[Completion]], GenerationRequest] = {}
        todo = iter(requests)
        with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="progsynth-openai") as pool:
            try:
                while True:
                    while len(pending) < self.options.concurrency and (req := next(todo, None)) is not None:
                        pending[pool.submit(self.generate, req)] = req
                    if not pending:
                        return
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield pending.pop(future), future.result()
            finally:
                for future in pending:
                    future.cancel()

    def _complete(self, request: GenerationRequest, n: int, offset: int) -> list[Completion]:
        body = self._body(request, n, offset)
        path = "chat/completions" if self.options.chat else "completions"
        try:
            data = self._call("POST", path, body)
        except _ContextTooLong as exc:
            return error_completions(n, str(exc))
        except _BadRequest as exc:
            if n == 1:
                raise BackendError(f"{self.options.base_url}/{path} rejected the request: {exc}") from None
            self._max_n = 1  # perhaps a server without ``n``: one sample per request from now on
            return self._complete(request, 1, offset)
        return self._parse(data, request, n)

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
        if self.options.chat:
            messages = [{"role": "user", "content": request.prompt}]
            if self.options.system_prompt:
                messages.insert(0, {"role": "system", "content": self.options.system_prompt})
            body["messages"] = messages
        else:
            body["prompt"] = request.prompt
        return body

    def _parse(self, data: Any, request: GenerationRequest, n: int) -> list[Completion]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise BackendError(f"{self.options.base_url} replied without 'choices': {str(data)[:120]!r}")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens") if len(choices) == 1 else None
        ordered = sorted(choices, key=lambda c: int(c.get("index", 0)) if isinstance(c, dict) else 0)
        return [self._choice(c, request, tokens) for c in ordered[:n]]

    def _choice(self, choice: Any, request: GenerationRequest, tokens: Any) -> Completion:
        if not isinstance(choice, dict):
            raise BackendError(f"{self.options.base_url} sent a malformed choice: {str(choice)[:120]!r}")
        message = choice.get("message")
        raw = message.get("content") if self.options.chat and isinstance(message, dict) else choice.get("text")
        text, cut = cut_at_stop(str(raw or ""), request.params.stop)  # servers that echo the stop string
        reason = _FINISH.get(str(choice.get("finish_reason")), FinishReason.EOS)
        if reason is FinishReason.STOP and "stop_reason" in choice and choice["stop_reason"] is None:
            reason = FinishReason.EOS  # vLLM tells a stop string (a str) from the end of sequence (None)
        if cut:
            reason = FinishReason.STOP
        return Completion(text=text, finish_reason=reason, tokens=tokens if isinstance(tokens, int) else None)

    # --- HTTP with retries --------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None, retry: bool = True) -> Any:
        """One API call, retried on transient failures; everything else becomes a one-line error."""
        url = f"{self.options.base_url}/{path}"
        attempts = self.options.retries + 1 if retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._client.request(method, path, json=body)
            except self._httpx.TransportError as exc:  # refused, reset, timed out
                if last:
                    what = "cannot connect to" if isinstance(exc, self._httpx.ConnectError) else "no reply from"
                    raise BackendError(f"{what} {url} ({type(exc).__name__}, {attempt + 1} attempt(s))") from None
                self._sleep(attempt, None)
                continue
            if response.status_code in RETRY_STATUS and not last:
                self._sleep(attempt, response.headers.get("retry-after"))
                continue
            return self._check(response, url, attempt + 1)
        raise AssertionError("unreachable")

    def _check(self, response: Any, url: str, attempts: int) -> Any:
        status = response.status_code
        if status in (401, 403):
            hint = f"check ${self.options.api_key_env}" if self._has_key else f"set ${self.options.api_key_env}"
            raise BackendError(f"{url} rejected the API key (HTTP {status}): {hint}")
        try:
            data = response.json()
        except ValueError:
            data = None
        message = _error_message(data) or " ".join(response.text[:120].split())
        if status == 400 and _is_context_error(message):
            raise _ContextTooLong(f"prompt exceeds the model's context: {message}")
        if status in (400, 404, 422):
            raise _BadRequest(f"HTTP {status}: {message}")
        if status != 200:
            raise BackendError(f"{url}: HTTP {status} after {attempts} attempt(s): {message}")
        if data is None:
            raise BackendError(f"{url} returned a reply that is not JSON: {response.text[:80]!r}")
        return data

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.options.backoff_s * (2**attempt) * (1 + random.random() / 4)
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), 120.0))
            except ValueError:
                pass
        time.sleep(delay)

    # --- bookkeeping --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Settings for the results file; the key itself is never included, only its variable."""
        o = self.options
        return {
            "name": self.name,
            "backend": "openai",
            "model": self.model,
            "base_url": o.base_url,
            "endpoint": "chat/completions" if o.chat else "completions",
            "api_key_env": o.api_key_env,
            "concurrency": o.concurrency,
            "max_n": self._max_n,
        }

    def close(self) -> None:
        self._client.close()


class _ContextTooLong(Exception):
    pass


class _BadRequest(Exception):
    pass


def _error_message(data: Any) -> str:
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        if err:
            return str(err)[:300]
    return ""


def _is_context_error(message: str) -> bool:
    low = message.lower()
    return "context" in low and ("length" in low or "size" in low or "exceed" in low or "maximum" in low)
