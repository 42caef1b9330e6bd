"""Named evaluation protocols: how other harnesses word MBPP and HumanEval and read the answers.

Published MBPP numbers are hard to compare because every harness prompts differently. A protocol
preset fixes everything about the prompt that a harness fixes (format, shots, asserts shown, stop
sequences, extraction rule), so ``--protocol NAME`` reproduces that harness's wording here and a
sweep can show how much the protocol alone moves a score. Each preset names the source it follows;
the formats are re-expressed from those sources, not copied:

* ``paper``: Austin et al. (2021) and the MBPP README: 3 shots (tasks 2, 3, 4), all 3 asserts,
  ``[BEGIN]``/``[DONE]`` (``progsynth.prompts``), cut at ``[DONE]``.
* ``evalplus``: EvalPlus ``codegen`` instruct mode (evalplus/codegen.py, provider/utility.py
  ``make_raw_chat_prompt``; MBPP+ prompt = a docstring holding the description and the first
  assert; HumanEval+ prompt = the task's own prompt). The user turn asks for "a self-contained
  Python script ... in a markdown code block" with the task in a bare fence; the answer is read by
  EvalPlus's ``sanitize``: the longest run of lines that parses, then the imports and the top-level
  definitions the entry point reaches. The assistant turn opens with EvalPlus's response prefix
  and a ```python fence (``reply_prefix``) on the backends that render the chat template
  themselves (llama.cpp, transformers), as EvalPlus does for vLLM and HF models; on an
  OpenAI-compatible server the turn opens empty, as in EvalPlus's own OpenAI provider. Stops:
  EvalPlus's ``\n```\n`` for chat models and its textual end-of-sequence strings.
* ``lm-eval``: lm-evaluation-harness ``lm_eval/tasks/mbpp/mbpp.yaml`` + ``utils.py``: the paper's
  wording, always the 3 asserts, shots 2, 3, 4 with their code as published (CRLF endings) followed
  by ``\\n[DONE]`` and joined by blank lines, stop at ``[DONE]``, then the first fenced block if any
  (else the text) behind ``from __future__ import annotations``.
* ``bigcode``: bigcode-evaluation-harness ``bigcode_eval/tasks/mbpp.py`` (InCoder's format):
  zero-shot, a docstring with the description and the first assert, the model continues after it;
  the generation is cut at the first of its stop words (``\\nclass``, ``\\nassert``, ``\\n\"\"\"``,
  ``\\nprint``, ``\\nif``, ``\\n<|/``, ``\\n```\\``); the docstring is a no-op and is not re-added.
"""

from __future__ import annotations

import ast
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from progsynth.benchmarks.base import PromptConfig, PromptStyle
from progsynth.errors import UsageError
from progsynth.extraction import cut_at_stop, parses
from progsynth.prompts import DONE, INTRO, TESTS_INTRO, Shot


class Protocol(enum.Enum):
    PAPER = "paper"
    EVALPLUS = "evalplus"
    LM_EVAL = "lm-eval"
    BIGCODE = "bigcode"


@dataclass(frozen=True)
class ProtocolSpec:
    """One preset: what it sets in the prompt configuration, and where it comes from."""

    protocol: Protocol
    style: PromptStyle
    shots: int
    asserts_shown: int
    benchmarks: tuple[str, ...]
    source: str
    summary: str
    shot_ids: tuple[str, ...] | None = None

    def prompt_config(self) -> PromptConfig:
        """The prompt configuration this protocol fixes (shots, asserts, format)."""
        return PromptConfig(shots=self.shots, shot_ids=self.shot_ids, asserts_shown=self.asserts_shown,
                            style=self.style)

    def check(self, benchmark: str) -> None:
        """A UsageError naming the protocol when it has no format for ``benchmark``."""
        if benchmark not in self.benchmarks:
            raise UsageError(f"protocol '{self.protocol.value}' is defined for {', '.join(self.benchmarks)}, "
                             f"not {benchmark}")


_MBPP = ("mbpp", "mbpp-sanitized")
PROTOCOLS: dict[Protocol, ProtocolSpec] = {
    Protocol.PAPER: ProtocolSpec(
        Protocol.PAPER, PromptStyle.PAPER, 3, 3, (*_MBPP, "humaneval", "mathqa-python"),
        "Austin et al. 2021, sec. 2.2; google-research/mbpp README",
        "3 shots (2, 3, 4), 3 asserts, [BEGIN]/[DONE], cut at [DONE]"),
    Protocol.EVALPLUS: ProtocolSpec(
        Protocol.EVALPLUS, PromptStyle.EVALPLUS, 0, 1, (*_MBPP, "humaneval"),
        "github.com/evalplus/evalplus: evalplus/codegen.py, provider/utility.py, sanitize.py",
        "instruct chat turn, 0 shots, 1 assert in a docstring (MBPP+), fenced answer, sanitize()"),
    Protocol.LM_EVAL: ProtocolSpec(
        Protocol.LM_EVAL, PromptStyle.LM_EVAL, 3, 3, _MBPP,
        "github.com/EleutherAI/lm-evaluation-harness: lm_eval/tasks/mbpp/mbpp.yaml, utils.py",
        "paper wording, shots 2, 3, 4 (CRLF code, blank-line separated), stop [DONE], first fence"),
    Protocol.BIGCODE: ProtocolSpec(
        Protocol.BIGCODE, PromptStyle.BIGCODE, 0, 1, _MBPP,
        "github.com/bigcode-project/bigcode-evaluation-harness: bigcode_eval/tasks/mbpp.py",
        "0 shots, docstring with description + first assert, stop words, prompt + cut generation"),
}


def get_protocol(name: str) -> ProtocolSpec:
    """The preset called ``name``; a UsageError listing the known names otherwise."""
    try:
        return PROTOCOLS[Protocol(name)]
    except ValueError:
        known = ", ".join(p.value for p in Protocol)
        raise UsageError(f"unknown protocol '{name}'; choose from {known}") from None


def protocol_of(config: PromptConfig) -> str:
    """The name of the preset ``config`` equals, else ``custom`` (recorded beside each result)."""
    for spec in PROTOCOLS.values():
        if spec.prompt_config() == replace(config, shot_ids=config.shot_ids or None):
            return spec.protocol.value
    return "custom"


# --- prompts -----------------------------------------------------------------------------------------

EVALPLUS_INSTRUCTION = ("Please provide a self-contained Python script that solves the following problem in a "
                        "markdown code block:")
EVALPLUS_RESPONSE = ("Below is a Python script with a self-contained function that solves the problem and passes "
                     "corresponding tests:")
EVALPLUS_STOPS = ("\n```\n", "\nif __name__", "\ndef main(", "\nprint(")
LM_EVAL_SEPARATOR = "\n\n"  # lm-eval's default few-shot delimiter
BIGCODE_STOPS = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
LM_EVAL_FUTURE = "from __future__ import annotations\n"


def docstring_task(text: str, first_test: str) -> str:
    """MBPP as a module docstring holding the description and one assert (EvalPlus's MBPP+ prompt,
    bigcode's InCoder-style prompt)."""
    return '"""\n' + text + "\n" + first_test + '\n"""\n'


def evalplus_message(task_prompt: str) -> str:
    """EvalPlus's instruct user turn: the instruction, then the task in a bare fence."""
    return f"{EVALPLUS_INSTRUCTION}\n```\n{task_prompt.strip()}\n```\n"


def lm_eval_prompt(text: str, tests: Sequence[str], shots: Sequence[Shot]) -> str:
    """lm-eval's ``mbpp``: each shot is the paper's task block + its code (CRLF, as published) +
    ``\\n[DONE]``, shots joined and followed by a blank line, then the target's task block."""
    def block(t: str, ts: Sequence[str]) -> str:
        return INTRO + t + TESTS_INTRO + "\n".join(ts) + "\n[BEGIN]\n"

    examples = [block(s.text, s.tests) + s.code.replace("\n", "\r\n") + "\n" + DONE for s in shots]
    return "".join(e + LM_EVAL_SEPARATOR for e in examples) + block(text, tests)


def mbpp_prompt(style: PromptStyle, text: str, tests: Sequence[str], shots: Sequence[Shot]) -> str:
    """The prompt of a protocol style for an MBPP task (``tests``: the asserts it shows)."""
    first = tests[0] if tests else ""
    if style is PromptStyle.EVALPLUS:
        return evalplus_message(docstring_task(text, first))
    if style is PromptStyle.LM_EVAL:
        return lm_eval_prompt(text, tests, shots)
    if style is PromptStyle.BIGCODE:
        return docstring_task(text, first)
    raise UsageError(f"prompt style '{style.value}' is not a protocol format")


def reply_prefix(style: PromptStyle) -> str:
    """What the model's turn opens with (EvalPlus prefills a sentence and a code fence)."""
    return f"{EVALPLUS_RESPONSE}\n```python\n" if style is PromptStyle.EVALPLUS else ""


def stops(style: PromptStyle) -> tuple[str, ...]:
    """Stop sequences of a protocol style (the chat ones also stop at the model's end of turn)."""
    if style is PromptStyle.EVALPLUS:
        return EVALPLUS_STOPS
    if style is PromptStyle.LM_EVAL:
        return (DONE,)
    if style is PromptStyle.BIGCODE:
        return BIGCODE_STOPS
    return ()


# --- extraction --------------------------------------------------------------------------------------

_LM_EVAL_FENCE = re.compile(r"```(?:\w+)?\n?(.*?)\n?```", re.DOTALL)


def extract(style: PromptStyle, raw: str, entry_point: str | None) -> str:
    """The program a protocol's harness would execute for ``raw`` (see the module docstring)."""
    if style is PromptStyle.EVALPLUS:
        return evalplus_sanitize(raw, entry_point)
    if style is PromptStyle.LM_EVAL:
        return lm_eval_extract(cut_at_stop(raw, (DONE,))[0])
    if style is PromptStyle.BIGCODE:
        return cut_at_stop(raw, BIGCODE_STOPS)[0]
    raise UsageError(f"prompt style '{style.value}' is not a protocol format")


def lm_eval_extract(text: str) -> str:
    """lm-eval's filter: the first fenced block (its generation prefix opens one), else the text,
    behind a ``from __future__ import annotations`` line."""
    found = _LM_EVAL_FENCE.findall("```" + text) or _LM_EVAL_FENCE.findall(text.replace("```python", "```"))
    return LM_EVAL_FUTURE + (found[0] if found else text)


def longest_parsing_span(text: str) -> str:
    """EvalPlus's ``code_extract``: the line span with the most non-blank lines that parses (the
    first line when none does). Spans starting on a blank or indented line are skipped: they cannot win (or parse)."""
    lines = text.split("\n")
    best, best_count = (0, -1), 0
    for i, first in enumerate(lines):
        if not first.strip() or first[:1] in (" ", "\t"):
            continue
        for j in range(len(lines), i, -1):
            count = sum(1 for line in lines[i:j] if line.strip())
            if count <= best_count:
                break
            if parses("\n".join(lines[i:j])):
                best, best_count = (i, j), count
                break
    return "\n".join(lines[best[0]:best[1]]) if best_count else lines[0]  # EvalPlus: the first line


def _definition(node: ast.stmt) -> str | None:
    """The name a kept top-level statement defines (EvalPlus keeps classes, functions that
    return something, and plain assignments), else None."""
    if isinstance(node, ast.ClassDef):
        return node.name
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name if any(isinstance(n, ast.Return) for n in ast.walk(node)) else None
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id
    return None


def _first_line(node: ast.stmt) -> int:
    """Where a statement starts, decorators included."""
    decorators = node.decorator_list if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) else []
    return min([node.lineno, *(d.lineno for d in decorators)])


def _reachable(entry: str, deps: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name in seen or name not in deps:
            continue
        seen.add(name)
        todo.extend(deps[name])
    return seen


def evalplus_sanitize(raw: str, entry_point: str | None) -> str:
    """EvalPlus's ``sanitize``: from the longest parsing span, the imports and the first definition
    of each name (only those the entry point reaches, when given); the span itself if that is empty."""
    code = longest_parsing_span(raw.replace("\r\n", "\n"))
    tree = ast.parse(code) if parses(code) else ast.Module(body=[], type_ignores=[])
    lines = code.split("\n")
    imports: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    defs: dict[str, ast.stmt] = {}
    for node in tree.body:
        name = _definition(node)
        if name is not None and name not in defs:
            defs[name] = node
    if entry_point:
        deps = {name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {name}
                for name, node in defs.items()}
        keep = _reachable(entry_point, deps)
        defs = {name: node for name, node in defs.items() if name in keep}
    kept = sorted([*imports, *defs.values()], key=lambda n: (n not in imports, n.lineno))
    out = "\n".join("\n".join(lines[_first_line(n) - 1:n.end_lineno or n.lineno]) for n in kept).strip()
    return (out or code).strip("\n") + "\n"
