"""Reading data files record by record, so any defect is reported as ``file:line: field: problem``.

Handles JSON Lines (``.jsonl``, optionally gzip-compressed ``.jsonl.gz``) and a single JSON array
(``.json``). For arrays each record's starting line is tracked (``json`` alone only reports the
position of syntax errors), and the record's index is named as well because some files (MBPP
sanitized) hold the whole array on one line.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from progsynth.errors import DataError
from progsynth.types import Problem

_WS = re.compile(r"[ \t\n\r]*")
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One JSON object from a data file plus where it came from, with typed field accessors."""

    path: Path
    line: int
    index: int  # 0-based position of the record in the file
    data: Mapping[str, Any]
    in_array: bool = False

    def error(self, message: str, field: str | None = None) -> DataError:
        where = f"record {self.index}: " if self.in_array else ""
        return DataError(self.path, where + message, line=self.line, field=field)

    def _get(self, name: str) -> Any:
        if name not in self.data:
            raise self.error("missing", field=name)
        return self.data[name]

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {_kind(value)}", field=name)
        return value

    def integer(self, name: str) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected an integer, got {_kind(value)}", field=name)
        return value

    def text_list(self, name: str, *, min_len: int = 0) -> tuple[str, ...]:
        value = self._get(name)
        if not isinstance(value, list):
            raise self.error(f"expected a list of strings, got {_kind(value)}", field=name)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"item {i}: expected a string, got {_kind(item)}", field=name)
        if len(value) < min_len:
            raise self.error(f"expected at least {min_len} item(s), got {len(value)}", field=name)
        return tuple(value)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def read_rows(path: Path) -> list[Row]:
    """Every record of ``path`` as a ``Row``; the format follows the name (.jsonl, .jsonl.gz, .json)."""
    text = _read_text(path)
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        pairs: Iterator[tuple[int, object]] = _iter_lines(text, path)
        in_array = False
    elif name.endswith((".json", ".json.gz")):
        pairs = _iter_array(text, path)
        in_array = True
    else:
        raise DataError(path, "unknown data file format (expected .jsonl, .jsonl.gz or .json)")
    rows = []
    for index, (line, obj) in enumerate(pairs):
        if not isinstance(obj, dict):
            where = f"record {index}: " if in_array else ""
            raise DataError(path, f"{where}expected a JSON object, got {_kind(obj)}", line=line)
        rows.append(Row(path, line, index, obj, in_array))
    return rows


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None
    if path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(path, f"not a readable gzip file ({exc or 'truncated'})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(path, f"not UTF-8 text (byte {exc.start})", line=line) from None


def _iter_lines(text: str, path: Path) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                path, f"invalid JSON ({exc.msg}, column {exc.colno}); truncated or corrupt line", line=number
            ) from None


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def _iter_array(text: str, path: Path) -> Iterator[tuple[int, object]]:
    decoder = json.JSONDecoder()
    line, seen = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, seen
        line += text.count("\n", seen, pos)
        seen = pos
        return line

    def fail(pos: int, message: str) -> DataError:
        return DataError(path, f"invalid JSON ({message}); truncated or corrupt file", line=line_at(pos))

    pos = _skip_ws(text, 0)
    if text[pos : pos + 1] != "[":
        raise fail(pos, "expected a JSON array")
    pos = _skip_ws(text, pos + 1)
    if text[pos : pos + 1] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(
                path,
                f"invalid JSON ({exc.msg}, column {exc.colno}); truncated or corrupt file",
                line=exc.lineno,
            ) from None
        yield line_at(pos), obj
        pos = _skip_ws(text, end)
        sep = text[pos : pos + 1]
        if sep == "]":
            break
        if sep != ",":
            raise fail(pos, "expected ',' or ']' after a record")
        pos = _skip_ws(text, pos + 1)
    rest = _skip_ws(text, pos + 1)
    if rest < len(text):
        raise fail(rest, "extra data after the array")


_PARSED: dict[tuple[str, str, int, int, int], Any] = {}


def parse_cached(path: Path, parse: Callable[[Path], T]) -> T:
    """``parse(path)``, remembered for this process until the file changes (inode, size, mtime),
    so a run that asks for several splits or builds many prompts parses each file once."""
    st = path.stat()
    key = (
        f"{parse.__module__}.{parse.__qualname__}",
        os.path.abspath(path),
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )
    if key not in _PARSED:
        _PARSED[key] = parse(path)
    result: T = _PARSED[key]
    return result


def clear_parse_cache() -> None:
    _PARSED.clear()


def unique_problems(rows: list[Row], problems: list[Problem], number: Callable[[str], int]) -> tuple[Problem, ...]:
    """``problems`` (parsed from ``rows``) in task order; a repeated task id is an error on its line."""
    seen: dict[str, int] = {}
    for row, problem in zip(rows, problems, strict=True):
        if problem.task_id in seen:
            raise row.error(f"duplicate task {problem.task_id} (first on line {seen[problem.task_id]})", "task_id")
        seen[problem.task_id] = row.line
    return tuple(sorted(problems, key=lambda p: number(p.task_id)))

