"""A sweep's configuration file, read and checked once: every later stage trusts it.

The file uses the run options' own names (``progsynth run --help``, dashes written as underscores).
Top-level keys fix an option for every cell; ``[grid]`` holds lists that are crossed; ``[[cells]]``
lists extra settings, each crossed with the grid (a list of hand-picked cells when there is no
grid). ``model`` values are a registry name or GGUF path (backend ``llamacpp`` unless ``backend`` is
set) or a table ``{backend, model, params, family, label, options}``. ``shot_ids`` values are lists
of task ids, or a table ``{random = K, size = 3, seed = 0}`` standing for K distinct random sets of
``size`` task ids drawn from the benchmark's prompt pool. An unknown key or a value of the wrong
type is a one-line ``DataError`` naming the file and the key.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from progsynth.errors import DataError, UsageError

#: run options a sweep file may set, with the type each value must have
RUN_KEYS: dict[str, type | tuple[type, ...]] = {
    "benchmark": str, "split": str, "limit": int, "task_ids": list, "backend": str, "model": (str, dict),
    "samples": int, "temperature": (int, float), "top_p": (int, float), "top_k": int, "max_tokens": int,
    "seed": int, "shots": int, "shot_ids": (list, dict), "asserts_shown": int, "prompt_style": str,
    "protocol": str, "timeout": (int, float), "memory_mb": int, "workers": int, "adaptive_timeouts": bool,
    "challenge": bool, "backend_options": dict,
}
SWEEP_KEYS = ("name", "grid", "cells")
MODEL_KEYS = ("backend", "model", "name", "params", "family", "label", "options")
RANDOM_KEYS = ("random", "size", "seed")


@dataclass(frozen=True)
class ModelChoice:
    """One model of a sweep: a backend plus its model, and what the study view needs about it."""

    backend: str
    model: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    params: int | None = None  # None: from the registry, when the model is registered
    family: str | None = None
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "options": dict(self.options),
                "params": self.params, "family": self.family, "label": self.label}


@dataclass(frozen=True)
class RandomShots:
    """``count`` distinct random shot sets of ``size`` ids from the prompt pool, drawn with ``seed``."""

    count: int
    size: int = 3
    seed: int = 0


@dataclass(frozen=True)
class SweepConfig:
    """The checked file: fixed settings, the grid's axes (in file order) and the listed cells."""

    path: Path
    name: str
    fixed: Mapping[str, Any]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    cells: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    def settings(self) -> list[dict[str, Any]]:
        """Each cell's settings before random shot sets are drawn: fixed, then grid, then listed."""
        keys = [k for k, _ in self.grid]
        combos = itertools.product(*(values for _, values in self.grid)) if self.grid else [()]
        listed = self.cells or ({},)
        return [{**self.fixed, **dict(zip(keys, combo, strict=True)), **extra}
                for combo in combos for extra in listed]

    @property
    def axes(self) -> tuple[str, ...]:
        """The options that vary between cells (grid keys, then keys of the listed cells)."""
        listed = [k for cell in self.cells for k in cell if k not in dict(self.grid)]
        return tuple(dict.fromkeys([k for k, _ in self.grid] + listed))


def load_sweep(path: Path) -> SweepConfig:
    """Read and check a sweep file (``.toml``, or ``.yaml``/``.yml`` when PyYAML is installed)."""
    if not path.is_file():
        raise DataError(path, "sweep configuration not found")
    raw = _read(path)
    if not isinstance(raw, dict):
        raise DataError(path, "a sweep configuration is a table of settings")
    for key in raw:
        if key not in RUN_KEYS and key not in SWEEP_KEYS:
            raise DataError(path, f"unknown key '{key}' (run options: {', '.join(RUN_KEYS)}; "
                                  f"sweep keys: {', '.join(SWEEP_KEYS)})")
    fixed = {k: _value(path, k, v) for k, v in raw.items() if k in RUN_KEYS}
    grid = _grid(path, raw.get("grid", {}))
    cells = _cells(path, raw.get("cells", []))
    name = raw.get("name", path.stem)
    if not isinstance(name, str):
        raise DataError(path, "key 'name': expected a string")
    return SweepConfig(path, name, fixed, grid, cells, raw)


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UsageError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write it as TOML") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DataError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, f"not valid TOML: {exc}") from None


def _grid(path: Path, grid: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(grid, dict):
        raise DataError(path, "key 'grid': expected a table of lists")
    axes = []
    for key, values in grid.items():
        if key not in RUN_KEYS:
            raise DataError(path, f"unknown key 'grid.{key}' (run options: {', '.join(RUN_KEYS)})")
        if key == "shot_ids" and isinstance(values, dict):
            values = [values]  # a random draw stands for its sets
        if not isinstance(values, list) or not values:
            raise DataError(path, f"key 'grid.{key}': expected a non-empty list of values")
        axes.append((key, tuple(_value(path, f"grid.{key}", v, key) for v in values)))
    return tuple(axes)


def _cells(path: Path, cells: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise DataError(path, "key 'cells': expected a list of tables")
    out = []
    for i, cell in enumerate(cells):
        for key in cell:
            if key not in RUN_KEYS:
                raise DataError(path, f"unknown key 'cells[{i}].{key}' (run options: {', '.join(RUN_KEYS)})")
        out.append({k: _value(path, f"cells[{i}].{k}", v, k) for k, v in cell.items()})
    return tuple(out)


def _value(path: Path, where: str, value: Any, key: str | None = None) -> Any:
    """``value`` checked against the type of option ``key`` (``where`` names it in errors)."""
    key = key or where
    expected = RUN_KEYS[key]
    if isinstance(value, bool) and expected is not bool:
        raise DataError(path, f"key '{where}': expected {_type_name(expected)}, got {value!r}")
    if not isinstance(value, expected):
        raise DataError(path, f"key '{where}': expected {_type_name(expected)}, got {value!r}")
    return _converted(path, where, key, value)


def _converted(path: Path, where: str, key: str, value: Any) -> Any:
    if key == "model":
        return _model(path, where, value)
    if key == "shot_ids":
        return _shots(path, where, value)
    if key == "task_ids":
        return tuple(str(v) for v in value)
    if key in ("temperature", "top_p", "timeout"):
        return float(value)
    return value


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table",
             bool: "true or false"}
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names[k] for k in kinds)


def _model(path: Path, where: str, value: str | dict[str, Any]) -> ModelChoice | str:
    """A model name stays a string until the backend is known (fixed ``backend`` or llamacpp)."""
    if isinstance(value, str):
        return value
    for key in value:
        if key not in MODEL_KEYS:
            raise DataError(path, f"unknown key '{where}.{key}' (model keys: {', '.join(MODEL_KEYS)})")
    params = value.get("params")
    if params is not None and (not isinstance(params, int | float) or params <= 0):
        raise DataError(path, f"key '{where}.params': expected a positive number of parameters")
    options = value.get("options", {})
    if not isinstance(options, dict):
        raise DataError(path, f"key '{where}.options': expected a table of backend options")
    model = value.get("model", value.get("name"))
    return ModelChoice(str(value.get("backend", "llamacpp")), None if model is None else str(model),
                       tuple(sorted(options.items())), None if params is None else int(params),
                       value.get("family"), value.get("label"))


def _shots(path: Path, where: str, value: list[Any] | dict[str, Any]) -> tuple[str, ...] | RandomShots:
    if isinstance(value, dict):
        for key in value:
            if key not in RANDOM_KEYS:
                raise DataError(path, f"unknown key '{where}.{key}' (random shot sets: {', '.join(RANDOM_KEYS)})")
        numbers = [value.get(k, d) for k, d in (("random", 0), ("size", 3), ("seed", 0))]
        ints = [n for n in numbers if isinstance(n, int) and not isinstance(n, bool)]
        if len(ints) != 3 or ints[0] < 1 or ints[1] < 1:
            raise DataError(path, f"key '{where}': expected {{random = K, size = 3, seed = 0}} with integers, K >= 1")
        return RandomShots(ints[0], ints[1], ints[2])
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise DataError(path, f"key '{where}': expected a list of task ids, got {value!r}")
    return tuple(str(v) for v in value)
