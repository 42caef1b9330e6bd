"""Helpers shared by test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import subprocess
import sys

_RUNNER = "import json, sys\nns = {}\nfor part in json.load(sys.stdin):\n    exec(part, ns)\n"


def run_parts(*parts: str) -> subprocess.CompletedProcess[str]:
    """Execute the code parts in order in one namespace in a fresh interpreter (no sandbox): the
    plain-Python ground truth that the data is right independently of progsynth's executor."""
    return subprocess.run([sys.executable, "-c", _RUNNER], check=False, input=json.dumps(parts),
                          capture_output=True, text=True, timeout=120)
