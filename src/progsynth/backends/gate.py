"""Admission of concurrent requests to one local server: shared lanes, or the whole server.

Why: ``Managed`` may send several requests at once. Single-sample (greedy) tasks should then share
the server's slots, because decoding two sequences in one batch costs little more than one. A task
with many samples already fills every slot by itself, and a server restart (new thread count, more
slots) needs no request in flight; both take the whole server. Waiting is FIFO-fair enough for a
handful of threads: ``notify_all`` wakes everyone and the condition is re-checked. A waiting
exclusive holder stops new shared ones, or a steady stream of greedy tasks would starve it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    """At most ``width`` shared holders at once, or one exclusive holder."""

    def __init__(self, width: int) -> None:
        self.width = max(1, width)
        self._active = 0
        self._exclusive_waiting = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, exclusive: bool = False) -> Iterator[None]:
        """Wait for room (all of it when ``exclusive``), hold it for the ``with`` block."""
        weight = self.width if exclusive else 1
        with self._cond:
            if exclusive:
                self._exclusive_waiting += 1
                try:
                    self._cond.wait_for(lambda: self._active == 0)
                finally:
                    self._exclusive_waiting -= 1
            else:
                self._cond.wait_for(lambda: self._active < self.width and not self._exclusive_waiting)
            self._active += weight
        try:
            yield
        finally:
            with self._cond:
                self._active -= weight
                self._cond.notify_all()
