"""The hostile-program suite: every case from the category modules (see base.py for placeholders)."""

from __future__ import annotations

from hostile.base import Case, Category
from hostile.benign import BENIGN
from hostile.cheat import CHEATS
from hostile.crash import CRASHES
from hostile.escape import ESCAPES
from hostile.resource import RESOURCES

CASES: tuple[Case, ...] = tuple(ESCAPES + RESOURCES + CHEATS + CRASHES + BENIGN)

__all__ = ["CASES", "Case", "Category"]
