"""Code extraction from chat-model answers: fences, prose, several blocks, no fence, reasoning."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from progsynth.extraction import extract_code, extract_paper

TESTS = "assert remove_Occ('hello', 'l') == 'heo'\nassert remove_Occ('abcda', 'a') == 'bcd'\n"
SOLUTION = (
    "def remove_Occ(s, ch):\n"
    "    s = s.replace(ch, '', 1)\n"
    "    i = s.rfind(ch)\n"
    "    return s if i < 0 else s[:i] + s[i + 1:]\n"
)


def _passes(program: str) -> bool:
    """Runs the program and the tests in a real interpreter, as __main__ (demo blocks would run)."""
    proc = subprocess.run(
        [sys.executable, "-c", program + TESTS], check=False, input="", capture_output=True, timeout=30
    )
    return proc.returncode == 0


CHAT_ANSWERS = {
    "fenced with prose around": (f"Sure! Here is the function:\n\n```python\n{SOLUTION}```\n\nIt removes both."),
    "fence without language": f"```\n{SOLUTION}```",
    "fence tagged py with CRLF": f"```py\r\n{SOLUTION.replace(chr(10), chr(13) + chr(10))}```",
    "unclosed fence (hit the length cap)": f"Here you go:\n```python\n{SOLUTION}",
    "solution then usage block": (f"```python\n{SOLUTION}```\nUsage:\n```python\nprint(remove_Occ('x', 'y'))\n```"),
    "usage block first": (
        f"Call it as:\n```python\nremove_Occ('hello', 'l')\n```\nDefinition:\n```python\n{SOLUTION}```"
    ),
    "import in another block": (
        "```python\nimport re\n```\n```python\ndef remove_Occ(s, ch):\n"
        "    s = re.sub(re.escape(ch), '', s, count=1)\n    i = s.rfind(ch)\n"
        "    return s if i < 0 else s[:i] + s[i + 1:]\n```"
    ),
    "main guard reading input": (f"```python\n{SOLUTION}\nif __name__ == '__main__':\n    print(input())\n```"),
    "no fence, prose before and after": f"Sure. Here is my solution:\n{SOLUTION}\nThis handles edge cases.",
    "no fence, plain code": SOLUTION,
    "reasoning block first": f"<think>Use ```python\nwrong()``` maybe?</think>\n```python\n{SOLUTION}```",
    "chat end token": f"```python\n{SOLUTION}```<|im_end|>",
    "paper style with [DONE]": f"{SOLUTION}[DONE]\nYou are an expert Python programmer",
    "other language block ignored": f"```bash\npip install nothing\n```\n```python\n{SOLUTION}```",
}


@pytest.mark.parametrize("case", sorted(CHAT_ANSWERS))
def test_chat_answers_yield_a_passing_program(case: str) -> None:
    code = extract_code(CHAT_ANSWERS[case], entry_point="remove_Occ")
    assert "```" not in code and "Sure" not in code
    assert _passes(code), code


def test_without_entry_point_blocks_with_definitions_win() -> None:
    raw = f"Example:\n```python\nremove_Occ('a', 'b')\n```\n```python\n{SOLUTION}```"
    assert extract_code(raw) == SOLUTION


def test_broken_code_stays_broken() -> None:
    """A syntax error in code-first output is kept, never trimmed into something that parses."""
    raw = "def f(x):\n    return (x +\n\nprint(f(1))\n"
    assert extract_code(raw) == raw
    assert extract_paper(raw) == raw


def test_prose_only_answer_is_returned_for_the_judge_to_reject() -> None:
    raw = "I am sorry, I cannot help with that request."
    assert extract_code(raw) == raw + "\n"


def test_long_noisy_answer_takes_little_time() -> None:
    raw = "Intro text here.\n" + "x = (\n" * 300 + "def f():\n    return 1\n"
    started = time.monotonic()
    assert extract_code(raw) == raw  # nothing parses: the answer is kept whole for the judge
    assert time.monotonic() - started < 1.0


def test_paper_extraction_unchanged_for_code_first_output() -> None:
    raw = SOLUTION + "[DONE]\n[BEGIN]\nmore"
    assert extract_code(raw) == extract_paper(raw) == SOLUTION
