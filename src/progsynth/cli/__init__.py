"""The ``progsynth`` command line: one module per command group (``run``: run and evaluate;
``show``: prompt, data-stats, summary, sandbox-check), options declared once (``options``)."""

from progsynth.cli.main import cli, main

__all__ = ["cli", "main"]
