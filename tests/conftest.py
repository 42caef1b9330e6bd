"""Test-session setup: the data directory as an absolute path.

CI sets ``PROGSYNTH_DATA_DIR=../shared/data`` (relative to the checkout); tests that build data
directories of their own (symlinks) or start subprocesses elsewhere need it absolute. Without the
variable, the ``shared/data`` folder beside the checkout is used.
"""

from __future__ import annotations

import os
from pathlib import Path

_default = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ["PROGSYNTH_DATA_DIR"] = str(Path(os.environ.get("PROGSYNTH_DATA_DIR") or _default).resolve())
