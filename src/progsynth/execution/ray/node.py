"""The body of the per-node actor: one ordinary progsynth sandbox pool on the node it is pinned to.

Nothing here imports Ray: ``executor`` wraps ``NodePool`` with ``ray.remote`` when a cluster is
used, so this module is the same code whether it runs under Ray or is tested on its own. The pool
is the one ``create_executor`` starts on a single machine, unchanged: Ray only carries requests to
it and verdicts back, so a program gets exactly the sandbox it would get locally.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from progsynth.execution.api import ExecRequest, Limits
from progsynth.execution.sandbox.config import SandboxConfig
from progsynth.execution.sandbox.protections import ProtectionStatus
from progsynth.verdicts import Verdict


@dataclass(frozen=True)
class NodeReport:
    """What a node says about itself when its pool has started (recorded in the results)."""

    node_id: str
    host: str
    pid: int
    workers: int
    protections: dict[str, ProtectionStatus]


@dataclass(frozen=True)
class BatchResult:
    """A batch's verdicts, with the seconds the pool spent on it (for the per-program overhead)."""

    verdicts: list[tuple[str, Verdict]]
    busy_s: float


class NodePool:
    """Runs batches on a sandbox pool of ``workers`` workers (a threaded actor: two batches at once
    keep the pool busy while the driver sends the next)."""

    def __init__(self, node_id: str, limits: Limits, workers: int, sandbox: SandboxConfig,
                 run_all_tests: bool = False) -> None:
        from progsynth.execution import create_executor

        self.node_id = node_id
        self.executor = create_executor(limits=limits, workers=workers, sandbox=sandbox,
                                        run_all_tests=run_all_tests)

    def report(self) -> NodeReport:
        return NodeReport(self.node_id, socket.gethostname(), os.getpid(), self.executor.workers,
                          dict(self.executor.protections))

    def run_batch(self, requests: list[ExecRequest]) -> BatchResult:
        started = time.perf_counter()
        verdicts = list(self.executor.run(requests))
        return BatchResult(verdicts, time.perf_counter() - started)

    def close(self) -> None:
        self.executor.close()
