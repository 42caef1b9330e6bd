"""The sandbox: what isolates a program's process, and what reports on it.

``config`` is what the caller chooses (``SandboxConfig``, which paths to expose and hide);
``plan`` is the policy (``HostPlan`` decided once in the pool process, ``WorkerSandbox`` set up
once per worker and entered by each program's process); ``isolation``, ``landlock``, ``seccomp``,
``cgroups``, ``treekill`` and ``libc`` are the mechanisms; ``protections`` and ``report`` say what
is really active; ``selfcheck`` attacks a real pool to prove it.

Deliberately empty: the pool process imports this package, and each module it loads makes every
program's fork dearer.
"""
