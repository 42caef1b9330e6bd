"""Command-line options, each declared once, and the flags that backends and benchmarks declare.

Backend- and benchmark-specific flags (``--threads``, ``--base-url``, ``--answer-tol``...) are not
written here: they come from the ``options`` that each backend or benchmark class declares
(``progsynth.options.OptionSpec`` with a ``flag``), and a flag given to a component that does not
declare it is a usage error naming both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from progsynth.backends import backend_class, backend_names
from progsynth.benchmarks import benchmark_class, benchmark_names
from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle
from progsynth.errors import UsageError
from progsynth.options import OptionKind, OptionSpec

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


def stack(*decorators: Decorator[Any]) -> Decorator[F]:
    """Apply option decorators in reading order (the first listed is shown first in --help)."""
    def apply(f: F) -> F:
        for dec in reversed(decorators):
            f = dec(f)
        return f
    return apply


def benchmark_option(default: str = "mbpp") -> Decorator[Any]:
    return click.option("--benchmark", "-b", type=click.Choice(benchmark_names()), default=default,
                        show_default=True)


def split_option(default: str | None = None) -> Decorator[Any]:
    return click.option("--split", "-s", default=default, show_default=default is not None,
                        help="Split to use (default: the benchmark's test split).")


DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Local data directory laid out like shared/data (else $PROGSYNTH_DATA_DIR).")
OFFLINE = click.option("--offline", is_flag=True, help="Never download data (also $PROGSYNTH_OFFLINE=1).")
TASK_ID = click.option("--task-id", "task_ids", multiple=True, help="Only these tasks (repeatable).")


def _protocol_names() -> list[str]:
    from progsynth.protocols import Protocol

    return [p.value for p in Protocol]


#: Which tasks a command works on (every command that loads a benchmark).
SELECTION = stack(
    benchmark_option(),
    split_option(),
    click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N tasks."),
    TASK_ID,
    DATA_DIR,
    OFFLINE,
)

PROMPT = stack(
    click.option("--shots", type=click.IntRange(0, 10), default=3, show_default=True),
    click.option("--shot-ids", default=None,
                 help="Comma-separated task ids of the few-shot examples (MBPP default: 2,3,4)."),
    click.option("--asserts-shown", type=click.IntRange(0, 3), default=3, show_default=True),
    click.option("--prompt-style", type=click.Choice([s.value for s in PromptStyle if not s.is_protocol]),
                 default="paper", show_default=True),
    click.option("--protocol", default=None, type=click.Choice(_protocol_names()),
                 help="Another harness's MBPP/HumanEval prompt and extraction (progsynth.protocols); "
                      "sets the prompt format, shots and asserts shown."),
)


def data_config(kw: Mapping[str, Any]) -> DataConfig:
    from progsynth.benchmarks.sources import data_config_from_env

    data = data_config_from_env(kw.get("data_dir"))
    return dataclasses.replace(data, allow_download=False) if kw.get("offline") else data


def prompt_config(kw: Mapping[str, Any]) -> PromptConfig:
    if kw.get("protocol"):
        from progsynth.protocols import get_protocol

        spec = get_protocol(kw["protocol"])
        spec.check(kw.get("benchmark") or "mbpp")
        return spec.prompt_config()
    shot_ids = tuple(x.strip() for x in kw["shot_ids"].split(",") if x.strip()) if kw["shot_ids"] else None
    return PromptConfig(shots=kw["shots"], shot_ids=shot_ids, asserts_shown=kw["asserts_shown"],
                        style=PromptStyle(kw["prompt_style"]))


def key_values(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` items of ``--backend-option``; keys may use dashes."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--backend-option")
        out[key.strip().replace("-", "_")] = value
    return out


# --- flags declared by components -------------------------------------------------------------------

_CLICK_TYPES: dict[OptionKind, Any] = {  # click.ParamType is generic only from click 8.5
    OptionKind.INT: click.INT, OptionKind.FLOAT: click.FLOAT, OptionKind.STR: click.STRING,
    OptionKind.BOOL: click.BOOL,
}


@dataclasses.dataclass(frozen=True)
class DeclaredFlags:
    """The flags that one kind of component (backends or benchmarks) declares, by component name."""

    kind: str
    by_component: Mapping[str, tuple[OptionSpec, ...]]

    def specs(self) -> dict[str, tuple[OptionSpec, list[str]]]:
        """Each flag once, with the first declaration and every component that declares it."""
        out: dict[str, tuple[OptionSpec, list[str]]] = {}
        for component, specs in self.by_component.items():
            for spec in specs:
                if spec.flag:
                    out.setdefault(spec.flag, (spec, []))[1].append(component)
        return out

    def decorators(self) -> Decorator[Any]:
        options = []
        for flag, (spec, owners) in self.specs().items():
            kind = click.Choice(spec.choices) if spec.kind is OptionKind.CHOICE else _CLICK_TYPES[spec.kind]
            options.append(click.option(flag, _param(flag), type=kind, default=None,
                                        help=f"{spec.help} ({', '.join(owners)} {self.kind})."))
        return stack(*options)

    def values_for(self, component: str, kw: Mapping[str, Any]) -> dict[str, Any]:
        """The values given for ``component``'s flags; a flag it does not declare is a UsageError."""
        declared = {spec.flag: spec.name for spec in self.by_component[component] if spec.flag}
        out = {}
        for flag in self.specs():
            value = kw.get(_param(flag))
            if value is None:
                continue
            if flag not in declared:
                raise UsageError(f"{flag} does not apply to {self.kind} '{component}'")
            out[declared[flag]] = value
        return out


def _param(flag: str) -> str:
    return "opt_" + flag.lstrip("-").replace("-", "_")


BACKEND_FLAGS = DeclaredFlags("backend", {name: backend_class(name).options for name in backend_names()})
BENCHMARK_FLAGS = DeclaredFlags("benchmark", {name: benchmark_class(name).options for name in benchmark_names()})
