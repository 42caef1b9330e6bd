"""The execution-prediction prompts: the program, then an interactive-session line to complete.

Every prompt ends with the call to predict as a Python REPL line, and the model writes the value on
the next line (generation stops at the newline)::

    # Write a function to find the shared elements from the given two lists.   <- CODE_DESCRIPTION
    def similar_elements(test_tup1, test_tup2):
      res = tuple(set(test_tup1) & set(test_tup2))
      return (res)

    >>> similar_elements((1, 2, 3, 4), (5, 4, 3, 7))                            <- CODE_ASSERTS:
    (3, 4)                                                                         other asserts
    >>> similar_elements((3, 4, 5, 6), (5, 7, 4, 10))                           <- the call
    (4, 5)                                                                      <- the model's answer

``CODE`` shows the program (reference solution plus the task's setup code) and the call;
``CODE_DESCRIPTION`` puts the task's description above it as comments; ``CODE_ASSERTS`` shows the
task's other asserts first as worked lines, with their *real* outputs; ``FEW_SHOT`` puts complete
``CODE`` examples of prompt-pool tasks (MBPP 1-10, never an evaluated task) in front, each with one
of its calls and its real output, separated by blank lines.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from progsynth.errors import UsageError
from progsynth.experiments.exec_predict.facts import Fact
from progsynth.types import Problem

PROMPT_MARK = ">>> "
#: generation stops at the end of the answer line
STOP = ("\n",)
#: worked examples in a FEW_SHOT prompt (MBPP's paper shots 2, 3 and 4)
FEW_SHOTS = 3


class Condition(enum.Enum):
    """What the model sees besides the call (see the module docstring)."""

    CODE = "code"
    CODE_DESCRIPTION = "code+description"
    CODE_ASSERTS = "code+asserts"
    FEW_SHOT = "few-shot"


@dataclass(frozen=True)
class ShotExample:
    """A prompt-pool task with one of its facts: a worked example for FEW_SHOT prompts."""

    problem: Problem
    fact: Fact


def program_text(problem: Problem) -> str:
    """The reference solution and the setup code it runs with, LF-terminated."""
    parts = [problem.reference_completion.strip("\n")]
    if problem.setup.strip():
        parts.append(problem.setup.strip("\n"))
    return "\n".join(parts) + "\n"


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.strip().splitlines())


def _line(fact: Fact) -> str:
    return f"{PROMPT_MARK}{fact.call}\n"


def _worked(fact: Fact) -> str:
    return _line(fact) + f"{fact.output}\n"


def block(problem: Problem, fact: Fact, condition: Condition, others: Sequence[Fact] = ()) -> str:
    """One task's block up to and including the call's line (no answer)."""
    head = _comment(problem.text) if condition is Condition.CODE_DESCRIPTION else ""
    shown = "".join(_worked(f) for f in others) if condition is Condition.CODE_ASSERTS else ""
    return head + program_text(problem) + "\n" + shown + _line(fact)


def build_prompt(problem: Problem, fact: Fact, condition: Condition, *, others: Sequence[Fact] = (),
                 shots: Sequence[ShotExample] = ()) -> str:
    """The prompt for predicting ``fact``'s output. ``others``: the task's other usable facts
    (CODE_ASSERTS); ``shots``: worked prompt-pool examples (FEW_SHOT)."""
    if condition is Condition.FEW_SHOT:
        examples = "".join(block(s.problem, s.fact, Condition.CODE) + f"{s.fact.output}\n\n" for s in shots)
        return examples + block(problem, fact, Condition.CODE)
    return block(problem, fact, condition, [f for f in others if f.key != fact.key])


def parse_conditions(values: Sequence[str]) -> tuple[Condition, ...]:
    """Conditions named on the command line (all of them when none), in a fixed order."""
    if not values:
        return tuple(Condition)
    known = {c.value: c for c in Condition}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise UsageError(f"unknown condition {unknown[0]!r}; choose from {', '.join(known)}")
    return tuple(c for c in Condition if c.value in values)
