"""The executor: a warm pool of sandboxed workers behind the ``Executor`` interface.

One driver thread per worker slot takes jobs from a shared queue, runs them (the judge's side runs
in that thread), and replaces its worker if the worker dies, re-running the job so no verdict is
lost. ``run`` streams verdicts as they finish, runs identical requests once, remembers recent
verdicts across calls, and answers programs that do not compile without touching a worker.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from progsynth.errors import ExecutionError
from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.execution.host.connection import PoolProcess, WorkerConn, WorkerLost
from progsynth.execution.host.jobs import compile_program, content_key, validate
from progsynth.execution.sandbox.config import SandboxConfig
from progsynth.execution.sandbox.protections import Protection, ProtectionStatus, merge, warn_missing
from progsynth.machine import usable_cores
from progsynth.verdicts import Status, Verdict

MAX_ATTEMPTS = 3
_DEFAULT_LIMITS = Limits()


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


class PoolExecutor(Executor):
    """Use ``create_executor``; a context manager, close() stops every process it started."""

    def __init__(self, limits: Limits, workers: int, sandbox: SandboxConfig, preload: tuple[str, ...] | None,
                 require: tuple[Protection, ...], cache_size: int, run_all_tests: bool = False) -> None:
        self.limits = limits
        self.run_all_tests = run_all_tests
        self.workers = workers
        self.sandbox = sandbox
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
        self._protections: dict[str, ProtectionStatus] = merge(c.protections for c in self._conns if c)
        self._protections[Protection.INTEGRITY.value] = ProtectionStatus(
            Protection.INTEGRITY, True, "tests judged outside the program's process; values cross as plain data")
        self.warnings = warn_missing(self._protections)
        missing = [p.value for p in require if not self._protections[p.value].active]
        if missing:
            self.close()
            raise ExecutionError(f"required sandbox protection(s) unavailable: {', '.join(missing)}")
        self._threads = [threading.Thread(target=self._drive, args=(slot,), daemon=True,
                                          name=f"progsynth-exec-{slot}") for slot in range(workers)]
        for t in self._threads:
            t.start()

    # ----- public ------------------------------------------------------------------------------
    @property
    def protections(self) -> dict[str, ProtectionStatus]:
        """What every worker set up (a protection counts only if all have it), plus integrity."""
        return self._protections

    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
        """Admit requests lazily (at most four per worker waiting) so a huge iterable is never held."""
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

    @property
    def sandbox_uids(self) -> range:
        """The uids this pool's programs run as (one per worker slot; empty without uid isolation)."""
        base = self.sandbox.uid_base
        if base is None or not self.sandbox.isolate_uid:
            return range(0)
        return range(base, base + self.workers)

    def worker_pids(self) -> list[int]:
        """For tests and diagnostics: the live workers' pids."""
        return [c.pid for c in self._conns if c is not None]

    @property
    def pool_pid(self) -> int:
        """For tests and diagnostics: the pool process's pid."""
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
    return usable_cores() + 1

