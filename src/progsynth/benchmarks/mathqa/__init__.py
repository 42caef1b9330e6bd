"""MathQA-Python (Austin et al., 2021): MathQA's word problems converted to straight-line Python.

The modules follow the data's path: ``ops`` (MathQA's operation table), ``convert`` (one record's
``linear_formula`` to a checked Python program), ``data`` (finding, reading and caching the raw
files), ``stats`` (conversion figures; ``python -m progsynth.benchmarks.mathqa.stats``) and
``benchmark`` (the ``Benchmark`` the registry names ``mathqa-python``).
"""

from __future__ import annotations

from progsynth.benchmarks.mathqa.benchmark import MathQAPython, answer_test

__all__ = ["MathQAPython", "answer_test"]
