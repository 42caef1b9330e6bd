"""Every MathQA operation: its DSL value on hand-computed cases, and its Python face agreeing."""

from __future__ import annotations

import math

import pytest

from progsynth.benchmarks.mathqa.ops import OPERATIONS, constant_value

PI = math.pi

# op -> list of (arguments, value computed by hand)
CASES: dict[str, list[tuple[tuple[float, ...], float]]] = {
    "add": [((2, 3), 5)],
    "subtract": [((7, 2), 5), ((2, 7), -5)],
    "multiply": [((4, 2.5), 10)],
    "divide": [((9, 4), 2.25)],
    "inverse": [((4,), 0.25)],
    "negate": [((3,), -3)],
    "power": [((2, 3), 8), ((2, 10), 32), ((9, 0.5), 3)],  # exponent capped at 5
    "sqrt": [((16,), 4), ((-4,), 0)],  # negative clamped to 0
    "log": [((8,), 3), ((0,), math.log2(1e-5))],  # base 2, argument clamped at 1e-5
    "factorial": [((5,), 120), ((5.9,), 120), ((20,), 1307674368000)],  # int(), capped at 15!
    "floor": [((3.7,), 3), ((-1.5,), -2)],
    "reminder": [((17, 5), 2)],
    "max": [((3, 8), 8)],
    "min": [((3, 8), 3)],
    "gcd": [((12, 18), 6)],
    "lcm": [((4, 6), 12)],
    "sine": [((PI / 2,), 1)],
    "cosine": [((0,), 1)],
    "tangent": [((PI / 4,), 1)],
    "choose": [((5, 2), 10), ((10, 3), 120)],
    "permutation": [((5, 2), 20), ((2, 5), 20)],  # order of arguments does not matter
    "count_interval": [((10, 3), 8)],
    "negate_prob": [((0.25,), 0.75)],
    "union_prob": [((0.5, 0.4, 0.2), 0.7)],
    "percent": [((20, 50), 10)],
    "from_percent": [((25,), 0.25)],
    "gain_percent": [((20,), 120)],
    "loss_percent": [((20,), 80)],
    "negate_percent": [((30,), 70)],
    "p_after_gain": [((10, 200), 220)],
    "price_after_gain": [((10, 200), 220)],
    "price_after_loss": [((10, 200), 180)],
    "p_after_loss": [((10, 200), 180)],
    "original_price_before_gain": [((25, 150), 120)],
    "original_price_before_loss": [((20, 80), 80 * 100 / 80.00001)],
    "speed": [((100, 4), 25)],
    "combined_work": [((4, 12), 3), ((0.25, 1 / 12), 3)],  # rates or times give the same
    "find_work": [((4, 12), 6)],
    "speed_ratio_steel_to_stream": [((10, 2), 1.5)],
    "speed_in_still_water": [((10, 6), 8)],
    "stream_speed": [((10, 6), 2)],
    "circle_area": [((2,), 4 * PI)],
    "circumface": [((3,), 6 * PI)],
    "circle_arc": [((90, 2), PI)],  # (degrees, radius)
    "circle_sector_area": [((2, 90), PI)],  # (radius, degrees)
    "semi_circle_perimiter": [((2,), 2 * PI + 4)],
    "rectangle_area": [((3, 4), 12)],
    "rectangle_perimeter": [((3, 4), 14)],
    "square_area": [((5,), 25)],
    "square_perimeter": [((5,), 20)],
    "square_edge_by_area": [((49,), 7)],
    "square_edge_by_perimeter": [((20,), 5)],
    "diagonal": [((3, 4), 5)],
    "rhombus_area": [((6, 8), 24)],
    "rhombus_perimeter": [((5,), 20)],
    "quadrilateral_area": [((4, 3, 5), 16)],
    "trapezium_area": [((4, 3, 5), 16)],
    "triangle_area": [((6, 4), 12)],
    "triangle_perimeter": [((3, 4, 5), 12)],
    "triangle_area_three_edges": [((3, 4, 5), 6), ((1, 1, 5), 0)],  # impossible triangle -> 0
    "volume_cube": [((3,), 27)],
    "cube_edge_by_volume": [((27,), 3)],
    "surface_cube": [((2,), 24)],
    "volume_rectangular_prism": [((2, 3, 4), 24)],
    "surface_rectangular_prism": [((2, 3, 4), 52)],
    "volume_cylinder": [((2, 5), 20 * PI)],
    "volume_cone": [((3, 4), 12 * PI)],
    "volume_sphere": [((3,), 36 * PI)],
    "surface_sphere": [((2,), 16 * PI)],
    "surface_cylinder": [((2, 3), 20 * PI)],
}


def test_every_operation_has_cases() -> None:
    assert sorted(CASES) == sorted(OPERATIONS)
    for name, op in OPERATIONS.items():
        assert all(len(args) == op.arity for args, _ in CASES[name]), name


def _python_value(name: str, args: tuple[float, ...]) -> float:
    """Run the operation's Python face the way emitted programs do: arguments bound to names."""
    op = OPERATIONS[name]
    names = tuple(f"n{i}" for i in range(len(args)))
    code = ("import math\n" if op.needs_math else "") + "".join(f"n{i} = {a!r}\n" for i, a in enumerate(args))
    namespace: dict[str, object] = {}
    exec(code + f"answer = {op.python(names)}\n", namespace)  # noqa: S102 - the table's own templates
    value = namespace["answer"]
    assert isinstance(value, int | float)
    return float(value)


@pytest.mark.parametrize("name,args,expected", [(n, a, e) for n, cases in CASES.items() for a, e in cases])
def test_operation_value_and_python_agree(name: str, args: tuple[float, ...], expected: float) -> None:
    op = OPERATIONS[name]
    assert op.compute(*[float(a) for a in args]) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert _python_value(name, tuple(float(a) for a in args)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_python_face_accepts_float_literals() -> None:
    """Constants are inlined as float literals, e.g. ``100.0 - n0`` or ``2.0**min(n0, 5)``."""
    assert eval(OPERATIONS["power"].python(("2.0", "3.0"))) == 8.0
    assert eval(OPERATIONS["negate"].python(("2.5",))) == -2.5
    assert eval(OPERATIONS["subtract"].python(("100.0", "30.0"))) == 70.0


def test_dsl_guards_division_by_zero() -> None:
    """The DSL reads x / 0 as 0 (the problem is then dropped as zero or mismatched)."""
    assert OPERATIONS["divide"].compute(1.0, 0.0) == 0
    assert OPERATIONS["speed"].compute(1.0, 0.0) == 0
    assert OPERATIONS["inverse"].compute(0.0) == 0


def test_paper_operation_set() -> None:
    """The operations the paper's conversion lacked; problems using them are dropped by default."""
    assert {n for n, op in OPERATIONS.items() if not op.paper} == {
        "min",
        "p_after_loss",
        "tangent",
        "surface_cylinder",
    }


@pytest.mark.parametrize(
    "name,value",
    [
        ("const_100", 100.0),
        ("const_1", 1.0),
        ("const_0_25", 0.25),
        ("const_0_2778", 0.2778),
        ("const_3_6", 3.6),
        ("const_2.0", 2.0),
        ("const_0.5", 0.5),
        ("const_pi", PI),
        ("const_deg_to_rad", PI / 180),
    ],
)
def test_constants(name: str, value: float) -> None:
    assert constant_value(name) == value


@pytest.mark.parametrize("name", ["const_", "const_e", "constant_5", "const_1_", "const_-1"])
def test_unknown_constants_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="unknown constant"):
        constant_value(name)
