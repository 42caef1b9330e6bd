"""``progsynth dialog``: the paper's dialog with feedback, with a person at the terminal
(``--feedback interactive``, the default), a scripted feedback file, or automatic feedback from the
failing test (``--feedback auto``, self-repair over a whole split). Options are checked here, once,
into a frozen DialogConfig; the loop is ``progsynth.experiments.dialog.session``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import click

from progsynth.cli.model import MODEL, model_choice
from progsynth.cli.options import PROMPT, prompt_config
from progsynth.cli.run import EXECUTION, run_config
from progsynth.errors import DataError
from progsynth.experiments.dialog.config import PAPER_TURNS, DialogConfig
from progsynth.experiments.dialog.feedback import FeedbackMode, FeedbackSource, Reply, TurnView, parse_reply
from progsynth.experiments.dialog.format import FORMATS, DialogStyle, default_style, load_format
from progsynth.experiments.dialog.transcript import Action
from progsynth.run.config import paper_sampling

FEEDBACK_PROMPT = "feedback (empty = accept, /skip, /stop)"


class TerminalFeedback(FeedbackSource):
    """A person at the terminal: each turn is shown, then one line of feedback is read."""

    mode: ClassVar[FeedbackMode] = FeedbackMode.INTERACTIVE
    one_task_at_a_time: ClassVar[bool] = True

    def show(self, view: TurnView) -> None:
        from progsynth.report.dialog import turn_text

        click.echo(turn_text(view))

    def reply(self, view: TurnView) -> Reply:
        """Ctrl-C or end of input at the prompt stops the session cleanly (resumable)."""
        while True:
            try:
                text = click.prompt(FEEDBACK_PROMPT, default="", show_default=False)
            except click.Abort:
                click.echo("")
                return Reply(Action.STOP)
            reply = parse_reply(text)
            if reply is not None:
                return reply
            click.echo(f"unknown command {text.strip()!r}; type feedback, or press enter, /skip or /stop")


def _announce(view: TurnView, action: Action) -> None:
    """At the terminal: say when a task's dialog ends without a question."""
    if action is Action.OUT_OF_TURNS:
        click.echo(f"(no turns left for {view.problem.task_id}; its dialog ends here)")


def _log_turn(view: TurnView, action: Action) -> None:
    status = "solved" if view.verdict.passed else view.verdict.status.value
    click.echo(f"{view.problem.task_id} turn {view.turn}: {status} -> {action.value}", err=True)


def _feedback(value: str) -> tuple[FeedbackMode, Path | None]:
    if value in (FeedbackMode.INTERACTIVE.value, FeedbackMode.AUTO.value):
        return FeedbackMode(value), None
    path = Path(value)
    if not path.is_file():
        raise DataError(path, "feedback file not found (--feedback takes interactive, auto or a file)")
    return FeedbackMode.FILE, path


def dialog_config(kw: dict[str, Any]) -> DialogConfig:
    prompt = prompt_config(kw)
    style = DialogStyle(kw["dialog_style"]) if kw["dialog_style"] else default_style(prompt.style)
    fmt = FORMATS[style]
    if kw["dialog_template"] is not None:
        fmt = load_format(kw["dialog_template"], fmt)
    mode, path = _feedback(kw["feedback"])
    sampling = paper_sampling(1, kw["temperature"], max_tokens=kw["max_tokens"], seed=kw["seed"])
    model = model_choice(kw, chat=prompt.style.is_chat, shots=prompt.shots)
    run_cfg = run_config(kw, backend=model.backend, backend_options=model.options, sampling=sampling, prompt=prompt,
                         model_provenance=model.provenance)
    return DialogConfig(run_cfg, turns=kw["turns"], feedback=mode, feedback_file=path, style=style, format=fmt,
                        from_run=kw["from_run"])


@click.command()
@EXECUTION
@click.option("--feedback", default="interactive", show_default=True, metavar="interactive|auto|FILE",
              help="Who answers: you at the terminal, the failing test (self-repair), or a JSONL file of "
                   "(task_id, turn, feedback) replayed exactly (a transcript.jsonl works too).")
@click.option("--turns", type=click.IntRange(0, 20), default=PAPER_TURNS, show_default=True,
              help="Feedback turns after the first program (the paper: up to 4).")
@click.option("--dialog-style", type=click.Choice([s.value for s in DialogStyle]), default=None,
              help="How earlier programs and feedback are shown to the model (default: follows --prompt-style).")
@click.option("--dialog-template", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="JSON object overriding the templates 'attempt' ({code}), 'feedback' ({feedback}), 'retry'.")
@click.option("--from-run", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Take turn 0 from this progsynth run directory's first sample of each task.")
@click.option("--temperature", "-t", type=click.FloatRange(min=0), default=None, help="Default: 0 (greedy).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@PROMPT
@MODEL
def dialog(**kw: Any) -> None:
    """Dialog with feedback: the model revises its program after each piece of feedback (resumable)."""
    from progsynth.experiments.dialog.session import DialogSession
    from progsynth.report.dialog import plot_solved_by_turn, summary_text

    cfg = dialog_config(kw)
    source = TerminalFeedback() if cfg.feedback is FeedbackMode.INTERACTIVE else None
    on_turn = _announce if source is not None else None if kw["quiet"] else _log_turn
    session = DialogSession(cfg, source, on_turn=on_turn)
    out = session.run()
    plot = plot_solved_by_turn(out.results, out.out_dir)
    click.echo(summary_text(out.results, out.out_dir))
    click.echo(f"results: {out.results_path}")
    click.echo(f"plot: {plot.png}")
