"""The dialog's configuration: an ordinary ``RunConfig`` (benchmark, split, model, prompt, limits)
plus how many feedback turns, where feedback comes from and the dialog prompt's templates.

Validated once here. The default directory is the run's default directory with a ``dialog-``
prefix and the feedback mode, so a dialog never mixes its files with a plain run of the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.benchmarks.base import PromptStyle
from progsynth.errors import UsageError
from progsynth.experiments.dialog.feedback import FeedbackMode
from progsynth.experiments.dialog.format import DialogFormat, DialogStyle
from progsynth.run.config import RunConfig, to_jsonable

#: the paper lets people give feedback for up to 4 turns after the first program
PAPER_TURNS = 4
MAX_TURNS = 20


@dataclass(frozen=True)
class DialogConfig:
    """``turns`` is the number of revisions after turn 0 (turns 0..``turns`` are scored)."""

    run: RunConfig
    turns: int = PAPER_TURNS
    feedback: FeedbackMode = FeedbackMode.INTERACTIVE
    feedback_file: Path | None = None
    style: DialogStyle = DialogStyle.PAPER
    format: DialogFormat = DialogFormat()
    #: a ``progsynth run`` directory whose first sample of each task is taken as turn 0
    from_run: Path | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.turns <= MAX_TURNS:
            raise UsageError(f"--turns must be between 0 and {MAX_TURNS}, got {self.turns}")
        if (self.feedback is FeedbackMode.FILE) != (self.feedback_file is not None):
            raise UsageError("a feedback file goes with --feedback FILE, and only with it")
        if self.run.prompt.style not in (PromptStyle.PAPER, PromptStyle.CHAT):
            raise UsageError("a dialog continues the paper's or the chat prompt; another harness's format "
                             f"({self.run.prompt.style.value}) is not supported")
        if self.run.sampling.n != 1:
            raise UsageError("a dialog continues one program per task: --samples must be 1")
        if self.from_run is not None and not (self.from_run / "samples.jsonl").is_file():
            raise UsageError(f"--from-run {self.from_run}: no samples.jsonl there (expected a progsynth run directory)")

    def out_dir(self, split: str) -> Path:
        if self.run.out_dir is not None:
            return self.run.out_dir
        default = self.run.resolved_out_dir(split)
        return default.with_name(f"dialog-{self.feedback.value}-{default.name}")

    def identity(self) -> dict[str, Any]:
        """What a resumed dialog must share with the one it continues (added to the samples header):
        the feedback mode and the dialog prompt. ``turns`` may grow between sessions."""
        return {"dialog": {"feedback": self.feedback.value, "style": self.style.value,
                           "format": to_jsonable(self.format)}}

    def to_json(self, split: str) -> dict[str, Any]:
        return {**self.run.results_config(split, self.run.sampling), "turns": self.turns,
                **self.identity(), "feedback_file": str(self.feedback_file) if self.feedback_file else None,
                "from_run": str(self.from_run) if self.from_run else None}
