"""Retries and bounded concurrency, added around every backend by ``create_backend``.

Backends only say *that* a failure may pass (``TransientBackendError``, with the server's
``Retry-After`` when it gave one); how often to try again, how long to wait and how many requests
to keep in flight is decided here, once, the same way for every backend.

Transient failures that outlast the retries stop the run with a BackendError instead of recording
failed samples: a resumed run then generates those tasks, whereas a recorded failure would be final.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar

from progsynth.backends.base import Backend
from progsynth.errors import TransientBackendError
from progsynth.options import OptionKind, OptionSpec
from progsynth.types import Completion, GenerationRequest

#: The longest ``Retry-After`` honoured: a server asking for more is treated as asking for this.
MAX_RETRY_AFTER_S = 120.0

#: Options every backend accepts through ``create_backend``; ``concurrency`` defaults to the
#: backend's ``preferred_concurrency()``.
MANAGED_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("concurrency", OptionKind.INT, "requests in flight at once (default: the backend's own)",
               minimum=1),
    OptionSpec("retries", OptionKind.INT, "retries of a request that failed transiently (429, 5xx, timeout)",
               default=5, minimum=0),
    OptionSpec("backoff", OptionKind.FLOAT, "seconds before the first retry; doubles with every retry",
               default=1.0, minimum=0, exclusive=True),
)


class Managed(Backend):
    """``inner`` with retries on ``TransientBackendError`` and ``concurrency`` requests in flight.

    ``generate`` retries with exponential backoff (``backoff * 2**attempt``, plus up to 25% jitter so
    parallel requests do not retry in lockstep), waiting at least what the server asked for.
    ``generate_many`` runs ``concurrency`` requests at once and yields them as they finish; a
    BackendError stops them all. ``inner`` stays reachable for backend-specific calls.
    """

    label: ClassVar[str] = "managed"
    options: ClassVar[tuple[OptionSpec, ...]] = MANAGED_OPTIONS

    def __init__(
        self, inner: Backend, *, concurrency: int | None = None, retries: int = 5, backoff: float = 1.0
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.concurrency = concurrency or inner.preferred_concurrency()
        self.retries = retries
        self.backoff = backoff

    def prefills_reply(self) -> bool:
        return self.inner.prefills_reply()

    def generate(self, request: GenerationRequest) -> list[Completion]:
        attempt = 0
        while True:
            try:
                return self.inner.generate(request)
            except TransientBackendError as exc:
                if attempt >= self.retries:
                    raise exc.exhausted(attempt + 1) from None
                time.sleep(self.delay(attempt, exc.retry_after))
                attempt += 1

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        delay: float = self.backoff * (2**attempt) * (1 + random.random() / 4)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
        return delay

    def generate_many(
        self, requests: Iterable[GenerationRequest]
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        """Requests ``concurrency`` at a time, yielded as they finish; a BackendError stops them all."""
        if self.concurrency == 1:
            yield from super().generate_many(requests)  # in order, on this thread
            return
        pending: dict[Future[list[Completion]], GenerationRequest] = {}
        todo = iter(requests)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="progsynth-backend") as pool:
            try:
                while True:
                    while len(pending) < self.concurrency and (req := next(todo, None)) is not None:
                        pending[pool.submit(self.generate, req)] = req
                    if not pending:
                        return
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield pending.pop(future), future.result()
            finally:
                for future in pending:
                    future.cancel()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "concurrency": self.concurrency}

    def close(self) -> None:
        self.inner.close()
