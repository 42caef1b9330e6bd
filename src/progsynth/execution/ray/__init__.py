"""Execution on a Ray cluster: one ordinary progsynth sandbox pool per node, behind ``Executor``.

``progsynth run|evaluate --ray ADDRESS|auto`` uses it (``run.pipeline.default_executor``); nothing
else imports this package, so the single-machine path never loads Ray. The sandbox is the local
one, unchanged, on every node (``node``); ``executor`` spreads batches over the nodes, records
each node's protections, and resubmits the work of a node lost mid-run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from progsynth.execution.api import Limits
from progsynth.execution.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from progsynth.execution.ray.executor import RayExecutor


def create_ray_executor(address: str, limits: Limits | None = None, workers: int | None = None, *,
                        sandbox: SandboxConfig | None = None, batch_size: int | None = None) -> RayExecutor:
    """Connect to the Ray cluster at ``address`` (``host:port`` or ``auto``) and start a sandbox
    pool on each of its nodes with CPUs; ``workers`` is per node (default: its CPUs plus one).
    ``sandbox`` is what ``create_executor`` takes (hidden paths); each node picks its own uids."""
    from progsynth.execution.ray.executor import RayExecutor

    return RayExecutor(address, limits or Limits(), workers, sandbox or SandboxConfig(), batch_size)


__all__ = ["create_ray_executor"]
