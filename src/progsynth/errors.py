"""Errors that carry their own user-facing message and exit code (click's habit).

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``; no traceback reaches
the user for anything raised through these classes.
"""

from __future__ import annotations


class ProgsynthError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ProgsynthError):
    """Bad option values or combinations."""

    exit_code = 2


class DataError(ProgsynthError):
    """A malformed input file: names the file, the line (1-based, when known) and the field."""

    exit_code = 3

    def __init__(self, path: object, message: str, line: int | None = None, field: str | None = None):
        where = str(path) + (f":{line}" if line is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")
        self.path = str(path)
        self.line = line
        self.field = field


class ChecksumError(DataError):
    """A downloaded or local data file whose sha256 differs from the published one."""


class BackendError(ProgsynthError):
    """A model backend could not be loaded or could not answer (missing model, bad server...)."""

    exit_code = 4


class ExecutionError(ProgsynthError):
    """The sandbox itself failed (not the program under test)."""

    exit_code = 5


class TransientBackendError(BackendError):
    """A failure that may pass if asked again (rate limit, overloaded server, dropped connection).

    Backends raise it instead of retrying themselves, so retries live in one place for every backend
    (``progsynth.backends.managed``). ``retry_after`` is the delay the server asked for, in seconds,
    if it named one; ``detail`` is the server's own words, kept after the attempt count.
    """

    def __init__(self, message: str, retry_after: float | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.detail = detail

    def exhausted(self, attempts: int) -> BackendError:
        """The one-line error that stops the run once no attempt is left."""
        detail = f": {self.detail}" if self.detail else ""
        return BackendError(f"{self.message} after {attempts} attempt(s){detail}")


class InputWarning(UserWarning):
    """Something in an input file that did not stop the run but changes what is scored (e.g. a torn
    last line): shown on the terminal and recorded in the results."""
