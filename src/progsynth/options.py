"""Options that a backend or a benchmark declares for itself (click's habit: declared once).

A backend or benchmark lists its options as ``OptionSpec``s in a class attribute. The CLI builds its
flags from those declarations, and ``parse_options`` validates values that arrive from the command
line (strings) or from Python callers (typed values) in one place, rejecting unknown names. No
component checks its options by hand, and the CLI hard-codes no component's option.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from progsynth.errors import UsageError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class OptionKind(enum.Enum):
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    CHOICE = "choice"


@dataclass(frozen=True)
class OptionSpec:
    """One option of a component.

    ``name`` is the keyword the component's constructor takes. ``flag`` (e.g. ``--threads``) makes
    it a command-line flag of its own; options without one are still reachable as ``-O name=value``
    (backends) and from Python. ``minimum``/``maximum`` bound numbers (``exclusive`` makes the
    bounds open); ``choices`` lists the values of a CHOICE. ``default`` is what the component gets
    when the option is not given (``None``: the component decides, e.g. "auto").
    """

    name: str
    kind: OptionKind
    help: str = ""
    default: Any = None
    flag: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    choices: tuple[str, ...] = ()

    def parse(self, owner: str, value: Any) -> Any:
        """``value`` converted to the option's type and checked; ``None`` stays ``None``."""
        if value is None:
            return None
        converted = self._convert(owner, value)
        if isinstance(converted, int | float) and not isinstance(converted, bool):
            self._check_range(owner, converted)
        return converted

    def _convert(self, owner: str, value: Any) -> Any:
        kind = self.kind
        if kind is OptionKind.BOOL:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise self._error(owner, f"must be true or false, got {value!r}")
        if kind is OptionKind.INT:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise self._error(owner, f"must be an integer, got {value!r}")
            try:
                return int(value)
            except ValueError:
                raise self._error(owner, f"must be an integer, got {value!r}") from None
        if kind is OptionKind.FLOAT:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise self._error(owner, f"must be a number, got {value!r}")
            try:
                return float(value)
            except ValueError:
                raise self._error(owner, f"must be a number, got {value!r}") from None
        text = str(value)
        if kind is OptionKind.CHOICE and text not in self.choices:
            raise self._error(owner, f"must be one of {', '.join(self.choices)}, got {value!r}")
        return text

    def _check_range(self, owner: str, number: float) -> None:
        low, high = self.minimum, self.maximum
        if low is not None and (number < low or (self.exclusive and number == low)):
            raise self._error(owner, f"must be {'>' if self.exclusive else 'at least'} {low:g}, got {number:g}")
        if high is not None and (number > high or (self.exclusive and number == high)):
            raise self._error(owner, f"must be {'<' if self.exclusive else 'at most'} {high:g}, got {number:g}")

    def _error(self, owner: str, message: str) -> UsageError:
        where = f"{self.flag} ({owner})" if self.flag else f"{owner} option '{self.name}'"
        return UsageError(f"{where} {message}")


def parse_options(owner: str, specs: Iterable[OptionSpec], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared option, parsed (defaults filled in); unknown names are a UsageError.

    ``owner`` names the component in messages, e.g. ``"llamacpp backend"``.
    """
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(set(raw) - set(by_name))
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise UsageError(f"unknown {owner} option(s): {', '.join(unknown)} (known: {known})")
    return {name: spec.parse(owner, raw[name]) if raw.get(name) is not None else spec.default
            for name, spec in by_name.items()}
