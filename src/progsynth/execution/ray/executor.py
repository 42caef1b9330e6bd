"""``RayExecutor``: the ``Executor`` interface over a Ray cluster, one sandbox pool per node.

At start it places one ``node.NodePool`` actor on every alive node that offers CPUs, pinned there
(``NodeAffinitySchedulingStrategy(node_id, soft=False)``: an actor that moved would take its pool's
protections report with it), and each actor starts the ordinary progsynth pool on its node. ``run``
cuts the requests into batches, keeps ``in_flight`` batches per node, and streams verdicts back as
batches finish; requests are pulled from the iterable only as nodes have room, as in the local pool.

A node lost mid-run (its raylet or the actor died, or its pool failed a batch) loses no work:
every batch it held goes back to the front of the queue and runs on the nodes left. A batch's
verdicts are accepted once (by batch id), so a resubmitted request can never produce a second
verdict; a batch that took down ``MAX_ATTEMPTS`` nodes gets KILLED verdicts instead of taking
down the rest. Only when every node is gone does ``run`` raise.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from progsynth.errors import ExecutionError, UsageError
from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.execution.ray.node import BatchResult, NodePool, NodeReport
from progsynth.execution.sandbox.config import SandboxConfig
from progsynth.execution.sandbox.protections import Protection, ProtectionStatus
from progsynth.verdicts import Status, Verdict

MAX_ATTEMPTS = 3
START_TIMEOUT_S = 300.0


@dataclass
class _Batch:
    id: int
    requests: list[ExecRequest]
    attempts: int = 0


@dataclass
class _Node:
    report: NodeReport
    actor: Any


@dataclass
class RayStats:
    """Where the time went, for ``perf/scale.py``: ``round_trip_s`` is the driver's wait for each
    batch, ``busy_s`` the pools' own time on them; the difference is what Ray adds."""

    batches: int = 0
    programs: int = 0
    round_trip_s: float = 0.0
    busy_s: float = 0.0
    resubmitted: int = 0


@dataclass
class _RunState:
    """One ``run`` call: its queue of batches and which node holds each ref in flight."""

    pending: deque[_Batch] = field(default_factory=deque)
    in_flight: dict[Any, tuple[_Node, _Batch, float]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    exhausted: bool = False


def import_ray() -> Any:
    """Ray, imported only when a cluster is asked for (the single-machine path never loads it)."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'progsynth[ray]'") from None
    return ray


class RayExecutor(Executor):
    """Use ``progsynth.execution.ray.create_ray_executor``; a context manager."""

    def __init__(self, address: str, limits: Limits, workers: int | None, sandbox: SandboxConfig,
                 batch_size: int | None = None, in_flight: int = 2) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        self.limits = limits
        self.batch_size = batch_size
        self.in_flight = in_flight
        self.stats = RayStats()
        self.lost: list[NodeReport] = []
        self._ids = itertools.count()
        self._closed = False
        self._nodes: list[_Node] = []
        try:
            self._nodes = self._start_nodes(workers, sandbox)
        except BaseException:
            self.close()
            raise
        self.reports = [n.report for n in self._nodes]
        print("ray: " + ", ".join(f"{r.host}/{r.node_id[:8]} ({r.workers} workers)" for r in self.reports),
              file=sys.stderr, flush=True)

    # ----- start-up ------------------------------------------------------------------------------
    def _start_nodes(self, workers: int | None, sandbox: SandboxConfig) -> list[_Node]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self._ray
        alive = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
        if not alive:
            raise ExecutionError("the Ray cluster has no alive node with CPUs to run programs on")
        actor_class = ray.remote(NodePool)
        actors = []
        for node in alive:
            count = workers or int(node["Resources"]["CPU"]) + 1  # as locally: the node's CPUs plus one
            strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            actors.append(actor_class.options(num_cpus=0, max_concurrency=self.in_flight, max_restarts=0,
                                              scheduling_strategy=strategy)
                          .remote(node["NodeID"], self.limits, count, sandbox))
        try:
            reports = ray.get([a.report.remote() for a in actors], timeout=START_TIMEOUT_S)
        except ray.exceptions.RayError as exc:
            for actor in actors:
                ray.kill(actor)
            raise ExecutionError(f"a Ray node could not start its sandbox pool: {exc}") from None
        return [_Node(r, a) for r, a in zip(reports, actors, strict=True)]

    # ----- the interface -------------------------------------------------------------------------
    @property
    def protections(self) -> dict[str, ProtectionStatus]:
        """Each protection as every node that ran programs applies it: active only if active on all,
        and the detail names each node's own status when they differ."""
        return merge_nodes([*self.reports])

    @property
    def nodes(self) -> list[NodeReport]:
        """The nodes still running programs."""
        return [n.report for n in self._nodes]

    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
        if self._closed:
            raise ExecutionError("the executor is closed")
        state = _RunState()
        source = iter(requests)
        while True:
            self._dispatch(state, source)
            if not state.in_flight:
                if state.pending or not state.exhausted:  # requests left and no node to run them
                    raise ExecutionError("every Ray node was lost; the run can be resumed with the same command")
                return
            ready, _ = self._ray.wait(list(state.in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                yield from self._collect(state, ref)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        closing = [n.actor.close.remote() for n in self._nodes]
        if closing:
            ray.wait(closing, num_returns=len(closing), timeout=30.0)
        for node in self._nodes:
            ray.kill(node.actor)
        if self._owns_ray:
            ray.shutdown()

    # ----- internals -----------------------------------------------------------------------------
    def _dispatch(self, state: _RunState, source: Iterator[ExecRequest]) -> None:
        """Give every node up to ``in_flight`` batches: resubmitted ones first, then new ones."""
        import time

        held = {id(n): 0 for n in self._nodes}
        for node, _, _ in state.in_flight.values():
            held[id(node)] += 1
        for node in self._nodes:
            while held[id(node)] < self.in_flight:
                batch = state.pending.popleft() if state.pending else self._next_batch(state, source, node)
                if batch is None:
                    return
                ref = node.actor.run_batch.remote(batch.requests)
                state.in_flight[ref] = (node, batch, time.perf_counter())
                held[id(node)] += 1

    def _next_batch(self, state: _RunState, source: Iterator[ExecRequest], node: _Node) -> _Batch | None:
        if state.exhausted:
            return None
        size = self.batch_size or 4 * node.report.workers
        requests = list(itertools.islice(source, size))
        state.exhausted = len(requests) < size
        return _Batch(next(self._ids), requests) if requests else None

    def _collect(self, state: _RunState, ref: Any) -> Iterator[tuple[str, Verdict]]:
        import time

        node, batch, sent = state.in_flight.pop(ref)
        try:
            result: BatchResult = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            yield from self._failed(state, node, batch, exc)
            return
        if batch.id in state.done:  # cannot happen (a batch is in flight once), but never answer twice
            return
        state.done.add(batch.id)
        self.stats.batches += 1
        self.stats.programs += len(batch.requests)
        self.stats.round_trip_s += time.perf_counter() - sent
        self.stats.busy_s += result.busy_s
        yield from result.verdicts

    def _failed(self, state: _RunState, node: _Node, batch: _Batch,
                exc: BaseException) -> Iterator[tuple[str, Verdict]]:
        """A batch whose node failed it (the node or its actor died, or its pool broke): it and
        every other batch that node held go back to the front of the queue, and the node gets no
        more work (a broken pool must not turn the rest of the run into KILLED verdicts)."""
        returned = [batch]
        if node in self._nodes:
            self._nodes.remove(node)
            self.lost.append(node.report)
            if not isinstance(exc, self._ray.exceptions.RayActorError):
                self._ray.kill(node.actor)  # alive but failing: stop it and its pool
            for ref, (other, held, _) in list(state.in_flight.items()):
                if other is node:
                    del state.in_flight[ref]
                    returned.append(held)
            count = sum(len(b.requests) for b in returned)
            print(f"ray: node {node.report.host} ({node.report.node_id[:12]}) lost: {type(exc).__name__}; "
                  f"{count} request(s) resubmitted to the {len(self._nodes)} node(s) left", file=sys.stderr, flush=True)
        for lost in returned:
            lost.attempts += 1
            if lost.attempts >= MAX_ATTEMPTS:
                state.done.add(lost.id)
                message = f"its batch was lost with {lost.attempts} Ray nodes or actors: {type(exc).__name__}"
                yield from ((r.key, Verdict(Status.KILLED, error_type="NodeLost", message=message))
                            for r in lost.requests)
            else:
                self.stats.resubmitted += len(lost.requests)
                state.pending.appendleft(lost)


def merge_nodes(reports: list[NodeReport]) -> dict[str, ProtectionStatus]:
    """The protections of several nodes as one report (see ``RayExecutor.protections``)."""
    out: dict[str, ProtectionStatus] = {}
    names = dict.fromkeys(name for r in reports for name in r.protections)
    for name in names:
        statuses = [(r, r.protections[name]) for r in reports if name in r.protections]
        active = len(statuses) == len(reports) and all(s.active for _, s in statuses)
        if len({(s.active, s.detail) for _, s in statuses}) == 1:
            where = ", ".join(f"{r.host}/{r.node_id[:8]}" for r in reports)
            detail = f"{statuses[0][1].detail} (on all {len(reports)} Ray nodes: {where})"
        else:
            detail = "; ".join(f"{r.host}/{r.node_id[:8]}: {'on' if s.active else 'OFF'} ({s.detail})"
                               for r, s in statuses)
        out[name] = ProtectionStatus(Protection(name), active, detail)
    return out


def node_table(reports: Iterable[NodeReport]) -> list[Mapping[str, object]]:
    """Per node: where it ran and which protections it had on (for logs and ``perf/scale.py``)."""
    return [{"node_id": r.node_id, "host": r.host, "workers": r.workers,
             "active": sorted(n for n, s in r.protections.items() if s.active)} for r in reports]
