"""Running untrusted programs against their tests. See ``api`` for the interface."""

from progsynth.execution.api import ExecRequest, Executor, Limits

__all__ = ["ExecRequest", "Executor", "Limits"]
