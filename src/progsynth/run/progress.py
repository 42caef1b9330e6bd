"""A dependency-free progress line for long runs.

On a terminal it redraws one line in place; elsewhere (CI logs, files) it prints a line every
``interval`` seconds so logs stay short but a stalled run is still visible.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Counts tasks, samples, generated tokens and passing samples for one stage."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, interval: float = 10.0,
                 enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if not self.tty else 0.2
        self.enabled = enabled
        self.done = 0
        self.samples = 0
        self.tokens = 0
        self.judged = 0
        self.passed = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def advance(self, tasks: int = 0, samples: int = 0, tokens: int = 0) -> None:
        with self._lock:
            self.done += tasks
            self.samples += samples
            self.tokens += tokens
        self._maybe_draw()

    def judged_one(self, passed: bool) -> None:
        with self._lock:
            self.judged += 1
            self.passed += int(passed)
        self._maybe_draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        parts = [f"{self.label}: {self.done}/{self.total} tasks"]
        if self.samples:
            parts.append(f"{self.samples / elapsed:.2f} samples/s")
        if self.tokens:
            parts.append(f"{self.tokens / elapsed:.1f} tok/s")
        if self.judged:
            parts.append(f"pass {self.passed}/{self.judged} ({100 * self.passed / self.judged:.1f}%)")
        parts.append(_clock(elapsed))
        if 0 < self.done < self.total:
            parts.append(f"eta {_clock(elapsed / self.done * (self.total - self.done))}")
        return " | ".join(parts)

    def _maybe_draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.line()
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self._maybe_draw(force=True)
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
