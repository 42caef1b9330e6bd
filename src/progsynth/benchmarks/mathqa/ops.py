"""The MathQA operation table: how each DSL operation computes and how it reads as Python.

Every operation has two faces that must agree: ``compute`` (used to execute a ``linear_formula``
directly, the "DSL execution") and ``template`` (the Python expression emitted into the
straight-line program). The conversion runs both and keeps a problem only when they agree, so a
typo in one face shows up as dropped problems, not as wrong reference programs.

Semantics follow the MathQA-Python conversion of Austin et al. (2021), including its guards
(division by zero gives 0 in the DSL, exponents are capped at 5, factorials at 15!, logs are base
2 and clamp their argument at 1e-5). The guards change which problems survive, so they are part of
the dataset's definition. ``paper`` marks the operations that conversion knew; problems using any
other operation were dropped from the paper's dataset (see ``mathqa.convert``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

Number = float


@dataclass(frozen=True)
class Operation:
    """One DSL operation; ``template`` uses ``{0}``, ``{1}``... for its (atomic) arguments."""

    name: str
    arity: int
    compute: Callable[..., Number]
    template: str
    paper: bool = True

    @property
    def needs_math(self) -> bool:
        return "math." in self.template

    def python(self, args: tuple[str, ...]) -> str:
        """The Python expression for this operation applied to atoms (names or float literals)."""
        return self.template.format(*args)


def _safe_div(a: Number, b: Number) -> Number:
    return a / b if b != 0 else 0.0


def _inverse(a: Number) -> Number:
    return 1 / a if a != 0 else 0.0


def _permutation(a: Number, b: Number) -> Number:
    high, low = max(a, b), min(a, b)
    return math.factorial(int(high)) / math.factorial(int(high - low))


def _heron(a: Number, b: Number, c: Number) -> Number:
    s = (a + b + c) / 2
    return math.sqrt(max(0.0, s * (s - a) * (s - b) * (s - c)))


def _combined_work(a: Number, b: Number) -> Number:
    # MathQA passes either rates or times; min(x, 1/x) reads both as a rate.
    return 1 / (min(a, 1 / a) + min(b, 1 / b))


def _find_work(a: Number, b: Number) -> Number:
    ra, rb = min(a, 1 / a), min(b, 1 / b)
    return 1 / (max(ra, rb) - min(ra, rb))


_PI = "math.pi"

_TABLE: tuple[Operation, ...] = (
    # arithmetic
    Operation("add", 2, lambda a, b: a + b, "{0} + {1}"),
    Operation("subtract", 2, lambda a, b: a - b, "{0} - {1}"),
    Operation("multiply", 2, lambda a, b: a * b, "{0} * {1}"),
    Operation("divide", 2, _safe_div, "{0} / {1}"),
    Operation("inverse", 1, _inverse, "1 / {0}"),
    Operation("negate", 1, lambda a: -a, "-{0}"),
    Operation("power", 2, lambda a, b: a ** min(b, 5), "{0}**min({1}, 5)"),
    Operation("sqrt", 1, lambda a: math.sqrt(max(0.0, a)), "math.sqrt(max(0, {0}))"),
    Operation("log", 1, lambda a: math.log2(max(1e-5, a)), "math.log2(max(1e-5, {0}))"),
    Operation("factorial", 1, lambda a: math.factorial(min(15, int(a))), "math.factorial(min(15, int({0})))"),
    Operation("floor", 1, math.floor, "math.floor({0})"),
    Operation("reminder", 2, lambda a, b: a % b, "{0} % {1}"),
    Operation("max", 2, max, "max({0}, {1})"),
    Operation("gcd", 2, lambda a, b: math.gcd(int(a), int(b)), "math.gcd(int({0}), int({1}))"),
    Operation("lcm", 2, lambda a, b: math.lcm(int(a), int(b)), "math.lcm(int({0}), int({1}))"),
    Operation("sine", 1, math.sin, "math.sin({0})"),
    Operation("cosine", 1, math.cos, "math.cos({0})"),
    # combinatorics and probability
    Operation("choose", 2, lambda a, b: math.comb(int(a), int(b)), "math.comb(int({0}), int({1}))"),
    Operation(
        "permutation",
        2,
        _permutation,
        "math.factorial(int(max({0}, {1}))) / math.factorial(int(max({0}, {1}) - min({0}, {1})))",
    ),
    Operation("count_interval", 2, lambda a, b: a - b + 1, "{0} - {1} + 1"),
    Operation("negate_prob", 1, lambda a: 1 - a, "1 - {0}"),
    Operation("union_prob", 3, lambda a, b, c: a + b - c, "{0} + {1} - {2}"),
    # percent, profit and loss
    Operation("percent", 2, lambda a, b: a / 100 * b, "{0} / 100 * {1}"),
    Operation("from_percent", 1, lambda a: a / 100, "{0} / 100"),
    Operation("gain_percent", 1, lambda a: 100 + a, "100 + {0}"),
    Operation("loss_percent", 1, lambda a: 100 - a, "100 - {0}"),
    Operation("negate_percent", 1, lambda a: 100 - a, "100 - {0}"),
    Operation("p_after_gain", 2, lambda a, b: (1 + a / 100) * b, "(1 + {0} / 100) * {1}"),
    Operation("price_after_gain", 2, lambda a, b: (1 + a / 100) * b, "(1 + {0} / 100) * {1}"),
    Operation("price_after_loss", 2, lambda a, b: (1 - a / 100) * b, "(1 - {0} / 100) * {1}"),
    Operation("original_price_before_gain", 2, lambda a, b: b * 100 / (100 + a), "{1} * 100 / (100 + {0})"),
    Operation(
        "original_price_before_loss",
        2,
        lambda a, b: b * 100 / (100 + 1e-5 - a),
        "{1} * 100 / (100 + 1e-5 - {0})",
    ),
    # work and speed
    Operation("speed", 2, _safe_div, "{0} / {1}"),
    Operation("combined_work", 2, _combined_work, "1 / (min({0}, 1 / {0}) + min({1}, 1 / {1}))"),
    Operation(
        "find_work",
        2,
        _find_work,
        "1 / (max(min({0}, 1 / {0}), min({1}, 1 / {1})) - min(min({0}, 1 / {0}), min({1}, 1 / {1})))",
    ),
    Operation("speed_ratio_steel_to_stream", 2, lambda a, b: (a + b) / (a - b), "({0} + {1}) / ({0} - {1})"),
    Operation("speed_in_still_water", 2, lambda a, b: (a + b) / 2, "({0} + {1}) / 2"),
    Operation("stream_speed", 2, lambda a, b: (a - b) / 2, "({0} - {1}) / 2"),
    # plane geometry
    Operation("circle_area", 1, lambda r: math.pi * r**2, f"{_PI} * {{0}}**2"),
    Operation("circumface", 1, lambda r: 2 * math.pi * r, f"2 * {_PI} * {{0}}"),
    Operation("circle_arc", 2, lambda d, r: d / 360 * math.pi * 2 * r, f"{{0}} / 360 * {_PI} * 2 * {{1}}"),
    Operation(
        "circle_sector_area", 2, lambda r, d: d / 360 * math.pi * r**2, f"{{1}} / 360 * {_PI} * {{0}}**2"
    ),
    Operation("semi_circle_perimiter", 1, lambda r: math.pi * r + 2 * r, f"{_PI} * {{0}} + 2 * {{0}}"),
    Operation("rectangle_area", 2, lambda a, b: a * b, "{0} * {1}"),
    Operation("rectangle_perimeter", 2, lambda a, b: 2 * (a + b), "2 * ({0} + {1})"),
    Operation("square_area", 1, lambda a: a**2, "{0}**2"),
    Operation("square_perimeter", 1, lambda a: 4 * a, "4 * {0}"),
    Operation("square_edge_by_area", 1, math.sqrt, "math.sqrt({0})"),
    Operation("square_edge_by_perimeter", 1, lambda p: p / 4, "{0} / 4"),
    Operation("diagonal", 2, lambda a, b: math.sqrt(a**2 + b**2), "math.sqrt({0}**2 + {1}**2)"),
    Operation("rhombus_area", 2, lambda a, b: a * b / 2, "{0} * {1} / 2"),
    Operation("rhombus_perimeter", 1, lambda a: 4 * a, "4 * {0}"),
    Operation("quadrilateral_area", 3, lambda h, a, b: h * (a + b) / 2, "{0} * ({1} + {2}) / 2"),
    Operation("trapezium_area", 3, lambda h, a, b: h * (a + b) / 2, "{0} * ({1} + {2}) / 2"),
    Operation("triangle_area", 2, lambda b, h: b * h / 2, "{0} * {1} / 2"),
    Operation("triangle_perimeter", 3, lambda a, b, c: a + b + c, "{0} + {1} + {2}"),
    Operation(
        "triangle_area_three_edges",
        3,
        _heron,
        "math.sqrt(max(0, ({0} + {1} + {2}) / 2 * (({0} + {1} + {2}) / 2 - {0})"
        " * (({0} + {1} + {2}) / 2 - {1}) * (({0} + {1} + {2}) / 2 - {2})))",
    ),
    # solid geometry
    Operation("volume_cube", 1, lambda a: a**3, "{0}**3"),
    Operation("cube_edge_by_volume", 1, lambda v: v ** (1 / 3), "{0}**(1 / 3)"),
    Operation("surface_cube", 1, lambda a: 6 * a**2, "6 * {0}**2"),
    Operation("volume_rectangular_prism", 3, lambda a, b, c: a * b * c, "{0} * {1} * {2}"),
    Operation(
        "surface_rectangular_prism",
        3,
        lambda a, b, c: 2 * (a * b + a * c + b * c),
        "2 * ({0} * {1} + {0} * {2} + {1} * {2})",
    ),
    Operation("volume_cylinder", 2, lambda r, h: math.pi * r**2 * h, f"{_PI} * {{0}}**2 * {{1}}"),
    Operation("volume_cone", 2, lambda r, h: math.pi * r**2 * h / 3, f"{_PI} * {{0}}**2 * {{1}} / 3"),
    Operation("volume_sphere", 1, lambda r: 4 / 3 * math.pi * r**3, f"4 / 3 * {_PI} * {{0}}**3"),
    Operation("surface_sphere", 1, lambda r: 4 * math.pi * r**2, f"4 * {_PI} * {{0}}**2"),
    # MathQA operations the paper's conversion did not implement (problems using them were dropped)
    Operation("min", 2, min, "min({0}, {1})", paper=False),
    Operation("p_after_loss", 2, lambda a, b: (1 - a / 100) * b, "(1 - {0} / 100) * {1}", paper=False),
    Operation("tangent", 1, math.tan, "math.tan({0})", paper=False),
    Operation(
        "surface_cylinder",
        2,
        lambda r, h: 2 * math.pi * r * (r + h),
        f"2 * {_PI} * {{0}} * ({{0}} + {{1}})",
        paper=False,
    ),
)

OPERATIONS: Mapping[str, Operation] = MappingProxyType({op.name: op for op in _TABLE})

_CONSTANT_RE = re.compile(r"const_(\d+)(?:([._])(\d+))?")
_NAMED_CONSTANTS: Mapping[str, float] = MappingProxyType(
    {"const_pi": math.pi, "const_deg_to_rad": math.pi / 180}
)


def constant_value(name: str) -> float:
    """``const_100`` -> 100.0, ``const_0_25`` and ``const_0.25`` -> 0.25, ``const_pi`` -> pi.

    Raises ``ValueError`` for anything else, so a malformed constant is classified, not guessed.
    """
    if name in _NAMED_CONSTANTS:
        return _NAMED_CONSTANTS[name]
    match = _CONSTANT_RE.fullmatch(name)
    if match is None:
        raise ValueError(f"unknown constant '{name}'")
    whole, _, fraction = match.groups()
    return float(f"{whole}.{fraction}") if fraction is not None else float(whole)
