"""Getting the program out of a raw model output.

Paper-style outputs end at ``[DONE]``; chat models wrap code in Markdown fences and prose. Both
must be handled so an instruction model is not silently scored 0 by extraction.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` before the earliest stop string, and whether one was found (backends that cannot
    stop early overshoot, and some servers echo the stop string)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def cut_at_done(raw: str) -> str:
    """Everything before the first ``[DONE]`` (and any stray ``[BEGIN]`` the model repeated)."""
    text = raw.split("[DONE]", 1)[0]
    if text.lstrip().startswith("[BEGIN]"):
        text = text.lstrip()[len("[BEGIN]") :]
    return text


def strip_fences(text: str) -> str:
    """The code inside Markdown fences if there are any (Python blocks preferred), else ``text``."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    if not blocks:
        return text
    python = [body for lang, body in blocks if lang in ("python", "py", "python3", "")]
    chosen = python or [body for _, body in blocks]
    return "\n".join(b.rstrip("\n") for b in chosen) + "\n"


def extract_paper(raw: str) -> str:
    """Code from a paper-style completion: cut at ``[DONE]``, strip stray fences, LF endings."""
    return strip_fences(cut_at_done(raw).replace("\r\n", "\n")).strip("\n") + "\n"


# --- chat answers ----------------------------------------------------------------------------------

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_SPECIAL = re.compile(r"<\|(?:im_end|im_start|endoftext|eot_id|end)\|>|<end_of_turn>|</s>")
_CODE_START = re.compile(
    r"^(?:(?:def|class|async|import|from|if|for|while|with|try|return)\b|@|"
    r"[A-Za-z_][A-Za-z0-9_]*\s*(?:=|\(|\[|\.[A-Za-z_]))"
)
_PY_LANGS = ("python", "py", "python3", "")
_TRIM_TRIES = 50


def extract_code(raw: str, entry_point: str | None = None) -> str:
    """The program in a model's answer, whatever its style, so a chat model is not scored 0 by
    extraction: reasoning blocks and chat tokens dropped, cut at ``[DONE]``, then

    * Markdown fences: the Python block defining ``entry_point`` (plus imports the other blocks
      need), else the blocks that define something, else the first block;
    * no fences: the text itself if it is code, or, when it opens with prose, the longest run of
      lines that parses as Python. Code that merely has a syntax error is left alone (a broken
      program must stay broken, not be trimmed until it happens to parse).

    ``if __name__ == "__main__":`` demo blocks are removed: they may read input or print.
    """
    text = _SPECIAL.sub("", _THINK.sub("", raw.replace("\r\n", "\n")))
    text = cut_at_done(text)
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    if blocks:
        code = _choose_blocks(blocks, entry_point)
    elif parses(text) or _looks_like_code(_first_line(text)):
        code = text
    else:
        code = _longest_code_run(text)
    return _drop_main_guard(code).strip("\n") + "\n"


def _choose_blocks(blocks: list[tuple[str, str]], entry_point: str | None) -> str:
    bodies = [body for lang, body in blocks if lang in _PY_LANGS] or [body for _, body in blocks]
    if entry_point:
        defining = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.MULTILINE)
        for i, body in enumerate(bodies):
            if defining.search(body):
                imports = [
                    line
                    for j, other in enumerate(bodies)
                    if j != i
                    for line in other.splitlines()
                    if line.startswith(("import ", "from ")) and line not in body
                ]
                return "\n".join(dict.fromkeys(imports)) + ("\n" if imports else "") + body
    with_defs = [b for b in bodies if re.search(r"^\s*(?:def|class)\s", b, re.MULTILINE)]
    chosen = with_defs or bodies[:1]
    return "\n".join(b.rstrip("\n") for b in chosen) + "\n"


def parses(code: str) -> bool:
    """Whether ``code`` is valid Python (a null byte is a ValueError, not a SyntaxError)."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _looks_like_code(line: str) -> bool:
    return line[:1] in (" ", "\t") or bool(_CODE_START.match(line))


def _longest_code_run(text: str) -> str:
    """The longest run of code-looking lines that parses (trimmed at statement boundaries from the
    end if needed); ``text`` if none does. Prose lines split runs, so the parses stay few."""
    best = ""
    for run in sorted(_code_runs(text.splitlines()), key=len, reverse=True):
        if len("\n".join(run)) <= len(best):
            break
        ends = [i for i in range(len(run), 0, -1) if i == len(run) or run[i][:1] not in (" ", "\t", "")]
        for end in ends[:_TRIM_TRIES]:
            chunk = "\n".join(run[:end])
            if len(chunk) > len(best) and parses(chunk):
                best = chunk
                break
    return best or text


def _code_runs(lines: list[str]) -> list[list[str]]:
    runs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        continues = bool(current) and (not line.strip() or line[:1] in (" ", "\t") or line.startswith("#"))
        if continues or _looks_like_code(line):
            current.append(line)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _drop_main_guard(code: str) -> str:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    lines = code.splitlines(keepends=True)
    for node in reversed(tree.body):
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.end_lineno is not None:
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def _is_main_test(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )
