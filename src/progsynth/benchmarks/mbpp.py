"""MBPP (Austin et al., 2021): the full set (974 tasks) and the hand-verified sanitized subset (427).

Dataset facts handled here, so no other stage needs to know them:

- Splits are fixed by task number: 1-10 few-shot prompt pool, 11-510 test, 511-600 validation,
  601-974 train. The sanitized set keeps the split of each task it retains.
- Task ids are ``"Mbpp/<n>"`` for both sets (the evalplus convention), so sample files interoperate;
  ``normalize_task_id`` also accepts ``11``, ``"11"`` and ``"mbpp/11"``.
- 972 of 974 reference solutions (and both setup snippets) use Windows ``\\r\\n`` line endings, and
  four end with a stray ``\\r``; all code is normalised to ``\\n`` because prompts and programs use
  ``\\n``.
- Execution order is program, then setup, then the asserts: task 367's (and 927's) setup code builds
  trees from a ``Node`` class that only the solution defines. Sanitized ``test_imports`` become the
  setup code.
- ``challenge_test_list`` (11 tasks) becomes ``Problem.challenge_tests``; never shown in prompts.
- The default shots are tasks 2, 3 and 4 (the paper's); more shots continue through the prompt pool
  in task order. The sanitized set's shots are its own (edited) records of those tasks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from progsynth import protocols
from progsynth.benchmarks.base import Benchmark, DataConfig, PromptConfig, PromptStyle, UnknownTaskError
from progsynth.benchmarks.records import Row, parse_cached, read_rows, unique_problems
from progsynth.benchmarks.sources import DataFile
from progsynth.errors import UsageError
from progsynth.extraction import extract_code, extract_paper
from progsynth.prompts import Shot, chat_prompt, choose_shots, paper_prompt
from progsynth.types import Problem

_UPSTREAM = "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/"
MBPP_FILE = DataFile(
    "mbpp/mbpp.jsonl",
    "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f",
    _UPSTREAM + "mbpp.jsonl",
)
SANITIZED_FILE = DataFile(
    "mbpp/sanitized-mbpp.json",
    "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9",
    _UPSTREAM + "sanitized-mbpp.json",
)

#: (split, first task number, last task number), from the MBPP README
SPLIT_RANGES: tuple[tuple[str, int, int], ...] = (
    ("prompt", 1, 10),
    ("test", 11, 510),
    ("validation", 511, 600),
    ("train", 601, 974),
)
DEFAULT_SHOTS = (2, 3, 4)
TASK_PREFIX = "Mbpp/"
_ID = re.compile(r"(?:mbpp/)?0*(\d+)", re.IGNORECASE)


def task_id(number: int) -> str:
    return f"{TASK_PREFIX}{number}"


def task_number(task: str) -> int:
    return int(task[len(TASK_PREFIX) :])


def split_of(number: int) -> str | None:
    """The official split of MBPP task ``number``, or None outside 1..974."""
    for split, first, last in SPLIT_RANGES:
        if first <= number <= last:
            return split
    return None


def _lf(code: str) -> str:
    """Unix line endings; a lone ``\r`` (four solutions end with one) is a line break to Python too."""
    return code.replace("\r\n", "\n").replace("\r", "\n")


def _number_and_split(row: Row) -> tuple[int, str]:
    number = row.integer("task_id")
    split = split_of(number)
    if split is None:
        first, last = SPLIT_RANGES[0][1], SPLIT_RANGES[-1][2]
        raise row.error(f"{number} is outside MBPP's task numbers {first}..{last}", field="task_id")
    return number, split


@dataclass(frozen=True)
class _Fields:
    """Where the two MBPP files differ: the description's field name and the set-up code."""

    benchmark: str
    text_field: str
    setup: str
    challenge_tests: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def _problem(row: Row, fields: _Fields) -> Problem:
    """The fields both MBPP files share (id, split, code, tests), normalised to LF endings."""
    number, split = _number_and_split(row)
    return Problem(
        task_id=task_id(number),
        benchmark=fields.benchmark,
        split=split,
        text=row.text(fields.text_field),
        reference=_lf(row.text("code")),
        tests=tuple(_lf(t) for t in row.text_list("test_list", min_len=1)),
        setup=fields.setup,
        challenge_tests=fields.challenge_tests,
        extra=fields.extra,
    )


def _full_problem(row: Row) -> Problem:
    challenge = tuple(_lf(t) for t in row.text_list("challenge_test_list"))
    return _problem(row, _Fields(MBPP.name, "text", _lf(row.text("test_setup_code")), challenge))


def _sanitized_problem(row: Row) -> Problem:
    setup = "".join(_lf(line) + "\n" for line in row.text_list("test_imports"))
    extra = {"source_file": row.text("source_file")} if "source_file" in row.data else {}
    return _problem(row, _Fields(SanitizedMBPP.name, "prompt", setup, extra=extra))


def parse_full(path: Path) -> tuple[Problem, ...]:
    """All tasks of an ``mbpp.jsonl`` file, in task order."""
    rows = read_rows(path)
    return unique_problems(rows, [_full_problem(r) for r in rows], task_number)


def parse_sanitized(path: Path) -> tuple[Problem, ...]:
    """All tasks of a ``sanitized-mbpp.json`` file, in task order."""
    rows = read_rows(path)
    return unique_problems(rows, [_sanitized_problem(r) for r in rows], task_number)


@dataclass(frozen=True)
class _Index:
    problems: tuple[Problem, ...]
    by_id: Mapping[str, Problem]
    pool: tuple[str, ...]

    @classmethod
    def of(cls, problems: tuple[Problem, ...]) -> _Index:
        prompt_split = [p.task_id for p in problems if p.split == "prompt"]
        defaults = [task_id(n) for n in DEFAULT_SHOTS if task_id(n) in prompt_split]
        pool = tuple(defaults + [t for t in prompt_split if t not in defaults])
        return cls(problems, {p.task_id: p for p in problems}, pool)


class _MBPPFamily(Benchmark):
    """What both MBPP sets share: splits, ids, prompts, extraction."""

    splits = tuple(s for s, _, _ in SPLIT_RANGES)
    default_split = "test"
    stop = ("[DONE]",)
    #: evalplus ships MBPP+ (MBPP's tasks with more tests) loaders beside its data
    data_packages: ClassVar[tuple[str, ...]] = ("evalplus",)
    data_file: DataFile
    _cached_index: _Index | None = None

    @staticmethod
    def _parse(path: Path) -> tuple[Problem, ...]:
        raise NotImplementedError

    def all_problems(self, data: DataConfig) -> tuple[Problem, ...]:
        """Every task, parsed once per process per file version."""
        return parse_cached(self.data_file.resolve(data), self._parse)

    def by_id(self, data: DataConfig) -> Mapping[str, Problem]:
        return self._index(data).by_id

    def _index(self, data: DataConfig) -> _Index:
        """Lookups derived from the parsed tasks, rebuilt only when the parsed tuple changes
        (prompts are built once per task, so this keeps prompting a whole split linear)."""
        problems = self.all_problems(data)
        cached = self._cached_index
        if cached is None or cached.problems is not problems:
            cached = _Index.of(problems)
            self._cached_index = cached
        return cached

    def load(self, split: str, data: DataConfig) -> list[Problem]:
        return self.select_split(split, self.all_problems(data))

    def normalize_task_id(self, raw: object) -> str:
        """``11``, ``"11"``, ``"mbpp/11"`` and ``"Mbpp/11"`` all name ``"Mbpp/11"``."""
        text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else None
        match = _ID.fullmatch(text) if text is not None else None
        if match is None or split_of(int(match.group(1))) is None:
            raise UnknownTaskError(self.name, raw, f"{TASK_PREFIX}1 to {TASK_PREFIX}{SPLIT_RANGES[-1][2]}")
        return task_id(int(match.group(1)))

    def shot_pool(self, split: str, data: DataConfig) -> tuple[str, ...]:
        """Prompt-split tasks, the paper's defaults (2, 3, 4) first, then the rest in task order,
        whatever ``split`` is evaluated (the prompt split's own tasks just never show themselves)."""
        return self._index(data).pool

    def select_shots(self, problem: Problem, config: PromptConfig, data: DataConfig) -> tuple[Problem, ...]:
        """The worked examples for ``problem``'s prompt; never ``problem`` itself."""
        known = self.by_id(data)
        requested = None
        if config.shot_ids is not None:
            requested = tuple(self._shot_id(raw, known) for raw in config.shot_ids)
        chosen = choose_shots(problem.task_id, self.shot_pool(problem.split, data), requested, config.shots)
        return tuple(known[t] for t in chosen)

    def _shot_id(self, raw: str, known: Mapping[str, Problem]) -> str:
        try:
            normal = self.normalize_task_id(raw)
        except UnknownTaskError as exc:
            raise exc.as_usage("shot ids") from None
        if normal not in known:
            raise UsageError(f"shot ids: {normal} is not a task of {self.name}")
        return normal

    def prompt(self, problem: Problem, config: PromptConfig, data: DataConfig) -> str:
        k = config.asserts_shown
        shots = [Shot(s.text, s.tests[:k], s.reference) for s in self.select_shots(problem, config, data)]
        if config.style is PromptStyle.CHAT:
            return chat_prompt(problem.text, problem.tests[:k], shots)
        if config.style.is_protocol:
            return protocols.mbpp_prompt(config.style, problem.text, problem.tests[:k], shots)
        return paper_prompt(problem.text, problem.tests[:k], shots)

    def stop_sequences(self, config: PromptConfig) -> tuple[str, ...]:
        """A protocol format's own stop sequences (``progsynth.protocols``), else the default."""
        return protocols.stops(config.style) if config.style.is_protocol else super().stop_sequences(config)

    def extract(self, problem: Problem, raw: str, style: PromptStyle = PromptStyle.PAPER) -> str:
        """Paper style: cut at ``[DONE]`` and unwrap stray fences. Chat: the fenced or prose-wrapped
        code that defines the function the tests call."""
        if style is PromptStyle.CHAT:
            return extract_code(raw, tested_function(problem.tests))
        if style.is_protocol:
            return protocols.extract(style, raw, tested_function(problem.tests))
        return extract_paper(raw)


class MBPP(_MBPPFamily):
    """The full MBPP set (``mbpp/mbpp.jsonl``)."""

    name = "mbpp"
    data_file = MBPP_FILE
    _parse = staticmethod(parse_full)


class SanitizedMBPP(_MBPPFamily):
    """The hand-verified subset (``mbpp/sanitized-mbpp.json``); its ``prompt`` is the description."""

    name = "mbpp-sanitized"
    data_file = SANITIZED_FILE
    _parse = staticmethod(parse_sanitized)


__all__ = ["MBPP", "SanitizedMBPP", "parse_full", "parse_sanitized", "split_of", "task_id"]


_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_NOT_TESTED = frozenset({"assert", "set", "sorted", "list", "tuple", "abs", "round", "len", "math", "isclose", "str",
                         "int", "float", "dict", "frozenset", "all", "any", "sum", "max", "min", "not"})


def tested_function(tests: tuple[str, ...]) -> str | None:
    """The function MBPP's asserts call (``assert set(f(x)) == ...`` -> ``f``), for chat extraction."""
    for test in tests:
        for name in _CALL.findall(test):
            if name not in _NOT_TESTED:
                return str(name)
    return None

