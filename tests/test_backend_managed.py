"""Retries and concurrency that ``create_backend`` adds around every backend (here: the mock)."""

from __future__ import annotations

import threading
import time

import pytest

from progsynth.backends import backend_class, backend_names, backend_options, create_backend
from progsynth.backends.base import Backend
from progsynth.backends.managed import Managed
from progsynth.backends.mock import MockBackend
from progsynth.errors import BackendError, TransientBackendError, UsageError
from progsynth.types import GenerationRequest, Problem, SamplingParams


def _request(task: str = "T/1") -> GenerationRequest:
    return GenerationRequest(Problem(task, "t", "test", "", "ref\n", ()), "p", SamplingParams())


def test_transient_errors_are_retried_for_any_backend() -> None:
    failures = iter([TransientBackendError("busy", retry_after=0.0), TransientBackendError("busy")])

    def flaky(request: GenerationRequest, idx: int) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    backend = create_backend("mock", script=flaky, retries=2, backoff=0.01)
    assert [c.text for c in backend.generate(_request())] == ["ok"]
    assert isinstance(backend.inner, MockBackend) and len(backend.inner.calls) == 3


def test_retries_run_out_with_one_line_naming_the_attempts() -> None:
    def down(request: GenerationRequest, idx: int) -> str:
        raise TransientBackendError("http://x/v1/completions: HTTP 503", detail="overloaded")

    backend = create_backend("mock", script=down, retries=1, backoff=0.01)
    with pytest.raises(BackendError) as err:
        backend.generate(_request())
    assert str(err.value) == "http://x/v1/completions: HTTP 503 after 2 attempt(s): overloaded"
    assert not isinstance(err.value, TransientBackendError)


def test_retry_after_is_honoured_but_capped() -> None:
    backend = create_backend("mock", backoff=0.5)
    assert backend.delay(0, None) >= 0.5 and backend.delay(2, None) >= 2.0
    assert backend.delay(0, 3.0) == 3.0 and backend.delay(0, 10_000.0) == 120.0


def test_concurrency_runs_that_many_at_once_and_no_more() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def slow(request: GenerationRequest, idx: int) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return request.problem.task_id

    backend = create_backend("mock", script=slow, concurrency=4)
    started = time.monotonic()
    got = {req.problem.task_id: out[0].text for req, out in backend.generate_many(_request(f"T/{i}") for i in range(8))}
    elapsed = time.monotonic() - started
    assert got == {f"T/{i}": f"T/{i}" for i in range(8)}
    assert peak == 4 and elapsed < 8 * 0.2  # two waves of four: about 0.4 s
    assert backend.describe()["concurrency"] == 4


def test_a_backend_error_stops_the_batch() -> None:
    backend = create_backend("mock", fail_on=["T/2"], delay_s=0.05, concurrency=2)
    seen = []
    with pytest.raises(BackendError, match="scripted failure on T/2"):
        for request, _ in backend.generate_many(_request(f"T/{i}") for i in range(20)):
            seen.append(request.problem.task_id)
    assert len(seen) < 19 and len(backend.inner.calls) < 20  # type: ignore[attr-defined]


def test_local_backends_default_to_one_at_a_time_in_order() -> None:
    backend = create_backend("mock")
    assert backend.concurrency == 1 and backend.name == "mock"
    order = [r.problem.task_id for r, _ in backend.generate_many(_request(f"T/{i}") for i in range(5))]
    assert order == [f"T/{i}" for i in range(5)]
    with backend as same:
        assert same is backend


def test_declarations_are_readable_without_starting_a_model() -> None:
    for name in backend_names():
        cls = backend_class(name)
        assert issubclass(cls, Backend) and cls.label == name
        assert all(spec.help for spec in cls.options)
        assert {s.name for s in backend_options(name)} >= {"concurrency", "retries", "backoff"}
    chat = {name for name in backend_names() if backend_class(name).supports_chat}
    assert chat == {"llamacpp", "openai", "transformers"}
    assert backend_class("openai").default_concurrency == 4 and backend_class("llamacpp").default_concurrency == 2
    flags = {name: {s.flag for s in backend_class(name).options if s.flag} for name in backend_names()}
    assert flags["llamacpp"] == {"--threads", "--ctx"} and flags["openai"] == {"--base-url", "--api-key-env"}
    assert flags["transformers"] == {"--ctx"}
    with pytest.raises(UsageError):
        backend_class("nope")


def test_wrapper_options_are_checked_before_the_backend_starts() -> None:
    with pytest.raises(UsageError, match="concurrency"):
        create_backend("llamacpp", concurrency=0)  # fails before any model is resolved
    with pytest.raises(UsageError, match="retries"):
        create_backend("mock", retries=-1)
    assert create_backend("mock", retries="3", backoff="0.5").retries == 3
    with pytest.raises(TypeError):
        Backend()  # type: ignore[abstract]
    assert isinstance(Managed(MockBackend()).inner, MockBackend)
