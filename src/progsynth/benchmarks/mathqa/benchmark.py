"""MathQA-Python (Austin et al., 2021): math word problems answered by straight-line Python.

Each problem's text is ``"# <problem> n0 = 4.0 n1 = 5.0"``; the program must leave the result in
``answer``. A sample passes when ``answer`` is within ``rel_tol`` (default 1%, ``math.isclose``
semantics) of the gold answer stated by the correct option. The single test is plain Python that
reads only ``answer``, so the sandbox judges it like any other benchmark's asserts.

Prompts follow the paper's format with no tests shown (a test would reveal the answer). Shots come
from the training split when ``mathqa/train.json`` is on this machine, else from another split,
never from the split being evaluated: validation is prompted with test shots; test and the
challenge set (a subset of test's problems) with validation shots; train with validation shots.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from progsynth.benchmarks.base import (
    ALL_SPLIT,
    Benchmark,
    DataConfig,
    PromptConfig,
    PromptStyle,
    UnknownTaskError,
)
from progsynth.benchmarks.mathqa.convert import ConversionRules, MathQAItem
from progsynth.benchmarks.mathqa.data import Split, load_split, split_path, train_available
from progsynth.errors import UsageError
from progsynth.extraction import extract_code, extract_paper
from progsynth.options import OptionKind, OptionSpec
from progsynth.prompts import Shot, chat_prompt, paper_prompt
from progsynth.types import Problem

NAME = "mathqa-python"
TASK_PREFIX = "MathQA-Python"
OWNER = f"{NAME} benchmark"
REL_TOL = OptionSpec(
    "rel_tol",
    OptionKind.FLOAT,
    help="relative tolerance of the answer check",
    default=0.01,
    flag="--answer-tol",
    minimum=0.0,
    maximum=1.0,
    exclusive=True,
)
_TASK_ID_RE = re.compile(r"mathqa-python/(train|validation|test|challenge)/(\d+)", re.IGNORECASE)

CHAT_INSTRUCTIONS = (
    "Solve this math word problem with a short straight-line Python program that uses the numbers "
    "n0, n1, ... given above and stores the final numeric result in a variable named `answer`."
)


def task_id(split: Split, index: int) -> str:
    return f"{TASK_PREFIX}/{split.value}/{index}"


def answer_test(gold: float, rel_tol: float) -> str:
    """The one test of a problem: ``math.isclose(answer, gold, rel_tol)`` spelled with builtins
    only (the program need not import math), rejecting inf and nan answers."""
    g = repr(float(gold))
    return f"assert abs(answer - {g}) <= {rel_tol!r} * max(abs(answer), abs({g})) and abs(answer) < 1e308"


def _parse_split(split: str) -> Split:
    """``split`` as a ``Split`` (callers handle ``ALL_SPLIT``, which is several splits, first)."""
    try:
        return Split(split)
    except ValueError:
        names = ", ".join([s.value for s in Split] + [ALL_SPLIT])
        raise UsageError(f"benchmark '{NAME}' has no split '{split}'; choose from {names}") from None


class MathQAPython(Benchmark):
    name = NAME
    splits = tuple(s.value for s in Split)
    default_split = Split.TEST.value
    stop = ("[DONE]",)
    options: ClassVar[tuple[OptionSpec, ...]] = (REL_TOL,)

    def __init__(self, rel_tol: float = REL_TOL.default) -> None:
        """``rel_tol`` is the evaluation tolerance only; which problems exist is fixed by the
        paper's conversion rules (1%), so a tighter tolerance can fail some reference programs.
        Checked by its declaration (``REL_TOL``), as ``get_benchmark`` checks it, so direct Python
        callers get the same UsageError as the command line."""
        self.rel_tol: float = REL_TOL.parse(OWNER, rel_tol)
        self.rules = ConversionRules()
        self._problems: dict[tuple[Split, Path, int, int], tuple[Problem, ...]] = {}
        self._shots: dict[tuple[str, PromptConfig, DataConfig], tuple[Shot, ...]] = {}

    # --- problems ----------------------------------------------------------------------------------

    def load(self, split: str, data: DataConfig) -> list[Problem]:
        """Problems of ``split``; ``all`` is every split whose file is on this machine (train only
        if already present: "all" never starts a download)."""
        return [p for s in self._splits(split, data) for p in self._load(s, data)]

    def _splits(self, split: str, data: DataConfig) -> list[Split]:
        """The splits behind ``split``: itself, or for ``ALL_SPLIT`` every split whose file is here."""
        if split != ALL_SPLIT:
            return [_parse_split(split)]
        return [s for s in Split if s is not Split.TRAIN or train_available(data)]

    def _load(self, split: Split, data: DataConfig) -> tuple[Problem, ...]:
        path = split_path(split, data)
        st = path.stat()
        key = (split, path, st.st_size, st.st_mtime_ns)
        if key not in self._problems:
            items = load_split(split, data, self.rules).items
            self._problems[key] = tuple(self._problem(split, item) for item in items)
        return self._problems[key]

    def _problem(self, split: Split, item: MathQAItem) -> Problem:
        return Problem(
            task_id=task_id(split, item.index),
            benchmark=NAME,
            split=split.value,
            text=item.text,
            reference=item.code,
            tests=(answer_test(item.gold, self.rel_tol),),
            extra={
                "gold": item.gold,
                "answer": item.answer,
                "dsl_code": item.dsl_code,
                "category": item.category,
                "reasoning": item.reasoning,
                "source_index": item.source_index,
                "rel_tol": self.rel_tol,
            },
        )

    def normalize_task_id(self, raw: object) -> str:
        """``MathQA-Python/<split>/<index>`` (the prefix in any case); the index is 0-based."""
        match = _TASK_ID_RE.fullmatch(raw.strip()) if isinstance(raw, str) else None
        if match is None:
            raise UnknownTaskError(
                NAME, raw, f"'{TASK_PREFIX}/<split>/<index>', e.g. '{TASK_PREFIX}/test/17'"
            )
        return task_id(Split(match.group(1).lower()), int(match.group(2)))

    # --- prompts -----------------------------------------------------------------------------------

    def prompt(self, problem: Problem, config: PromptConfig, data: DataConfig) -> str:
        """Paper style: shots then the task, each ``text`` + ``[BEGIN]`` code ``[DONE]``, no tests
        shown (``asserts_shown`` does not apply: the test states the answer). Chat style: the shared
        chat message, each statement followed by what the program must define."""
        shots = self.shots_for(problem.split, config, data)
        if config.style is PromptStyle.CHAT:
            chat_shots = [Shot(chat_text(s.text), (), s.code) for s in shots]
            return chat_prompt(chat_text(problem.text), (), chat_shots)
        return paper_prompt(problem.text, (), shots)

    def shots_for(self, split: str, config: PromptConfig, data: DataConfig) -> tuple[Shot, ...]:
        """The shots for problems of ``split`` (cached: the runner asks once per problem)."""
        key = (split, config, data)
        if key not in self._shots:
            if config.shot_ids is not None:
                chosen = self._explicit_shots(split, config.shot_ids, data)
            else:
                chosen = self._default_shots(split, config.shots, data)
            self._shots[key] = tuple(Shot(p.text, (), p.reference.rstrip("\n")) for p in chosen)
        return self._shots[key]

    def shot_source(self, split: str, data: DataConfig) -> Split:
        """Where default shots come from for problems of ``split`` (never ``split`` itself)."""
        evaluated = _parse_split(split)
        if evaluated is not Split.TRAIN and train_available(data):
            return Split.TRAIN
        return Split.TEST if evaluated is Split.VALIDATION else Split.VALIDATION

    def shot_pool(self, split: str, data: DataConfig) -> tuple[str, ...]:
        """The problems of ``shot_source(split)`` in order, less those whose text also occurs in
        ``split`` (the challenge set repeats test problems; user-supplied files may overlap too)."""
        seen = {p.text for p in self._load(_parse_split(split), data)}
        return tuple(p.task_id for p in self._load(self.shot_source(split, data), data) if p.text not in seen)

    def _default_shots(self, split: str, count: int, data: DataConfig) -> list[Problem]:
        if count == 0:
            return []
        source = self.shot_source(split, data)
        pool = [self._by_id(task, data) for task in self.shot_pool(split, data)[:count]]
        if len(pool) < count:
            raise UsageError(
                f"{NAME}: only {len(pool)} {source.value} problems can be shots for '{split}' "
                f"(the others repeat its problems); ask for fewer shots or pass --shot-ids"
            )
        return pool

    def _explicit_shots(self, split: str, ids: Sequence[str], data: DataConfig) -> list[Problem]:
        """The problems named by ``ids``; none may come from, or repeat a problem of, ``split``."""
        seen = {p.text for p in self._load(_parse_split(split), data)}
        chosen = []
        for raw in ids:
            try:
                wanted = self.normalize_task_id(raw)
            except UnknownTaskError as exc:
                raise exc.as_usage("--shot-ids") from None
            if wanted.split("/")[1] == split:
                raise UsageError(f"--shot-ids: {wanted} is from the evaluated split '{split}'")
            shot = self._by_id(wanted, data)
            if shot.text in seen:
                raise UsageError(f"--shot-ids: {wanted} repeats a problem of the evaluated split '{split}'")
            chosen.append(shot)
        return chosen

    def _by_id(self, task: str, data: DataConfig) -> Problem:
        """The problem of a normalized task id (its index is its position in the split)."""
        _, split, index = task.split("/")
        problems = self._load(Split(split), data)
        if int(index) >= len(problems):
            raise UsageError(f"--shot-ids: {task} does not exist (split has {len(problems)} problems)")
        return problems[int(index)]

    def dataset_stats(self, split: str, data: DataConfig) -> list[dict[str, Any]]:
        """The conversion figures behind ``split`` (kept vs paper, DSL-execution accuracy, drop
        reasons): what a results document or a ``data-stats`` command can show for this benchmark."""
        # Imported here, not at the top: ``python -m progsynth.benchmarks.mathqa.stats`` must be
        # able to run that module as __main__ after the package (which imports this one) is loaded.
        from progsynth.benchmarks.mathqa.stats import split_stats

        return [split_stats(s, data).to_json() for s in self._splits(split, data)]

    # --- completions -------------------------------------------------------------------------------

    def extract(self, problem: Problem, raw: str, style: PromptStyle = PromptStyle.PAPER) -> str:
        return extract_code(raw) if style is PromptStyle.CHAT else extract_paper(raw)


def chat_text(text: str) -> str:
    """A task statement for chat prompts: the problem (no comment marker) and what to produce."""
    return text.removeprefix("# ") + "\n" + CHAT_INSTRUCTIONS
