"""Runs: configuration (``config``), the pipeline that ties the stages together (``pipeline``), and the
two long-running stages it drives (``generation``, ``judging``), with a progress line (``progress``)."""

from progsynth.run.config import RunConfig, paper_sampling
from progsynth.run.pipeline import Run, RunOutput, evaluate, run

__all__ = ["Run", "RunConfig", "RunOutput", "evaluate", "paper_sampling", "run"]
