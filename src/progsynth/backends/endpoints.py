"""Several model servers behind one backend: least-loaded choice, health, failover.

A run that outgrows one server points the OpenAI-compatible backend at several replicas of the
same model (vLLM, llama.cpp's server). ``EndpointPool`` decides where each request goes:

* **least loaded**: the healthy endpoint with the smallest share of its own concurrency in use
  (ties: the one that has served fewest requests, then the order given), so a replica with more
  slots takes more of the work;
* **bounded**: an endpoint never has more requests in flight than its concurrency; a caller waits
  for a free slot rather than overload a server;
* **health**: an endpoint whose request failed transiently is marked unhealthy and gets no work
  for ``recheck_s`` seconds; after that, one request at a time goes to it as its recheck, and
  success makes it healthy again. When no healthy endpoint is left, the unhealthy ones are tried
  anyway (there is nothing better to do, and the request doubles as their recheck);
* **no double counting**: every ``acquire`` is matched by exactly one ``release``, so slots, the
  served count and the failure count stay exact whatever a request did.

The pool knows nothing about HTTP: the backend calls it, so the policy is tested on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from progsynth.errors import UsageError


@dataclass(frozen=True)
class EndpointSpec:
    """One server: its base URL and how many requests it takes at once."""

    url: str
    concurrency: int


@dataclass
class EndpointState:
    """What the pool tracks about one endpoint (guarded by the pool's lock)."""

    spec: EndpointSpec
    in_flight: int = 0
    served: int = 0
    failures: int = 0
    healthy: bool = True
    failed_at: float = 0.0
    rechecking: bool = False

    @property
    def load(self) -> float:
        return self.in_flight / self.spec.concurrency


@dataclass(frozen=True)
class Lease:
    """One slot on one endpoint, held while a request is in flight; give it back with ``release``."""

    url: str
    recheck: bool = False
    _token: object = field(default_factory=object, compare=False, repr=False)


def parse_endpoints(base_url: str, concurrency: str | None, default: int) -> tuple[EndpointSpec, ...]:
    """``base_url`` as a comma-separated list of URLs; ``concurrency`` as one number for all or one
    per URL (comma-separated, same order). Checked here, once, as the backend starts."""
    urls = [u.strip().rstrip("/") for u in base_url.split(",") if u.strip()]
    if not urls:
        raise UsageError("openai backend needs base_url=http(s)://host:port/v1 (several: comma-separated)")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"openai backend needs base_url=http(s)://host:port/v1, got {url!r}")
    if len(set(urls)) != len(urls):
        raise UsageError(f"base_url lists an endpoint twice: {base_url!r}")
    limits = [default] * len(urls)
    if concurrency:
        try:
            given = [int(x) for x in concurrency.split(",")]
        except ValueError:
            raise UsageError(f"endpoint_concurrency must be integers, got {concurrency!r}") from None
        if len(given) == 1:
            given = given * len(urls)
        if len(given) != len(urls) or min(given) < 1:
            raise UsageError(f"endpoint_concurrency needs one positive number, or one per endpoint "
                             f"({len(urls)}), got {concurrency!r}")
        limits = given
    return tuple(EndpointSpec(u, c) for u, c in zip(urls, limits, strict=True))


class EndpointPool:
    """Thread-safe routing over several endpoints (see the module docstring)."""

    def __init__(self, specs: tuple[EndpointSpec, ...], recheck_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.states = {s.url: EndpointState(s) for s in specs}
        self.recheck_s = recheck_s
        self._clock = clock
        self._cond = threading.Condition()
        self._leases: dict[int, tuple[Lease, EndpointState]] = {}

    @property
    def capacity(self) -> int:
        """Requests the pool can have in flight at once (the sum of the endpoints' concurrency)."""
        return sum(s.spec.concurrency for s in self.states.values())

    def acquire(self, exclude: Collection[str] = ()) -> Lease | None:
        """A slot on the best endpoint not in ``exclude``, waiting for one to free up; ``None`` when
        every endpoint is excluded (the caller has tried them all)."""
        with self._cond:
            while True:
                candidates = [s for s in self.states.values() if s.spec.url not in exclude]
                if not candidates:
                    return None
                state = self._choose(candidates)
                if state is not None:
                    return self._lease(state)
                self._cond.wait(timeout=0.5)  # wakes on release, and to notice a recheck falling due

    def release(self, lease: Lease, ok: bool) -> None:
        """Give back ``lease``; ``ok=False`` marks its endpoint unhealthy (a transient failure)."""
        with self._cond:
            _, state = self._leases.pop(id(lease._token))  # KeyError: released twice, a bug
            state.in_flight -= 1
            if lease.recheck:
                state.rechecking = False
            if ok:
                state.served += 1
                state.healthy = True
            else:
                state.failures += 1
                state.healthy = False
                state.failed_at = self._clock()
            self._cond.notify_all()

    def mark_failed(self, url: str) -> None:
        """An endpoint found down outside a request (at start-up): no work until its recheck."""
        with self._cond:
            state = self.states[url]
            state.healthy = False
            state.failed_at = self._clock()

    def snapshot(self) -> list[dict[str, object]]:
        """Per-endpoint counts for the results file."""
        with self._cond:
            return [{"url": s.spec.url, "concurrency": s.spec.concurrency, "served": s.served,
                     "failures": s.failures, "healthy": s.healthy} for s in self.states.values()]

    def _choose(self, candidates: list[EndpointState]) -> EndpointState | None:
        now = self._clock()
        order = {url: i for i, url in enumerate(self.states)}
        healthy = [s for s in candidates if s.healthy and s.in_flight < s.spec.concurrency]
        due = [s for s in candidates if not s.healthy and not s.rechecking and s.in_flight < s.spec.concurrency
               and now - s.failed_at >= self.recheck_s]
        if due:  # a recheck falls due: one request goes there, before the healthy ones
            return min(due, key=lambda s: s.failed_at)
        if healthy:
            return min(healthy, key=lambda s: (s.load, s.served, order[s.spec.url]))
        if any(s.healthy for s in candidates):
            return None  # healthy endpoints exist but are full: wait for a slot
        sick = [s for s in candidates if s.in_flight < s.spec.concurrency]
        return min(sick, key=lambda s: (s.failed_at, order[s.spec.url])) if sick else None

    def _lease(self, state: EndpointState) -> Lease:
        recheck = not state.healthy and not state.rechecking
        if recheck:
            state.rechecking = True
        state.in_flight += 1
        lease = Lease(state.spec.url, recheck)
        self._leases[id(lease._token)] = (lease, state)
        return lease
