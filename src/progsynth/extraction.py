"""Getting the program out of a raw model output.

Paper-style outputs end at ``[DONE]``; chat models wrap code in Markdown fences and prose. Both
must be handled so an instruction model is not silently scored 0 by extraction.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


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
