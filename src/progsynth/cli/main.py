"""The ``progsynth`` command group and its entry point: one-line errors with their exit codes."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

from progsynth.cli.dialog import dialog
from progsynth.cli.exec_predict import exec_predict
from progsynth.cli.finetune import finetune
from progsynth.cli.report import compare, report
from progsynth.cli.run import evaluate, run
from progsynth.cli.show import data_stats, prompt, sandbox_check, summary
from progsynth.cli.sweep import sweep
from progsynth.errors import ProgsynthError

INTERRUPTED = "progsynth: interrupted; run the same command again to resume"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="progsynth")
def cli() -> None:
    """Measure how well language models write programs (Austin et al., 2021)."""


for command in (run, evaluate, prompt, sandbox_check, data_stats, summary, report, compare, finetune,
                exec_predict, dialog, sweep):
    cli.add_command(command)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    click.echo(f"progsynth: warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with their exit codes, never a traceback."""
    warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="progsynth", standalone_mode=False)
    except ProgsynthError as exc:
        click.echo(f"progsynth: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        os._exit(0)
