"""Append-only JSON Lines files that survive being killed at any instant.

Every record is written as one ``write`` of a complete line and flushed, so after a SIGKILL the
file holds whole lines plus at most one torn tail (bytes after the last newline). Opening for
append cuts that tail off; reading reports any other bad line as a DataError naming the line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Self

from progsynth.errors import DataError


def repair_tail(path: Path) -> int:
    """Truncate a torn last line (no trailing newline); returns the number of bytes removed."""
    if not path.exists():
        return 0
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        keep = _last_newline_end(fh, size)
        fh.truncate(keep)
        return size - keep


def _last_newline_end(fh: IO[bytes], size: int) -> int:
    """Offset just after the last newline before ``size`` (0 if there is none)."""
    pos = size
    block = 64 * 1024
    while pos > 0:
        start = max(0, pos - block)
        fh.seek(start)
        chunk = fh.read(pos - start)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        pos = start
    return 0


def iter_records(path: Path, *, allow_torn_tail: bool = True,
                 on_torn: Callable[[int], None] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; blank lines are skipped, a torn final line (no newline, not
    valid JSON: a writer killed mid-line) is skipped and its number passed to ``on_torn``, so a caller
    reading someone else's file can say so instead of dropping it silently.

    Raises DataError naming the file and line for invalid JSON or a line that is not an object.
    """
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror}") from None
    with fh:
        data = fh.read()
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_tail = number == len(lines) and torn
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if is_tail and allow_torn_tail:
                if on_torn is not None:
                    on_torn(number)
                return
            raise DataError(path, f"invalid JSON ({_short(exc)})", line=number) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object", line=number)
        yield number, record


def _short(exc: Exception) -> str:
    return str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else type(exc).__name__


class JsonlWriter:
    """Appends records to a JSONL file, one flushed line each (optionally fsynced)."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_tail(path)
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            raise ValueError(f"{self.path} is closed")
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AppendOnlyStore:
    """A store kept in one JSONL file: closing it (or leaving its ``with`` block) closes the file."""

    _writer: JsonlWriter

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write a JSON document via a temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
