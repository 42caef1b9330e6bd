"""The per-sample verdicts file (``verdicts.jsonl``): one line per (task, sample, suite).

``suite`` is ``tests`` for the task's scored asserts and ``challenge`` for MBPP's extra
``challenge_test_list``, reported separately. Each line carries a hash of the executed program so a
verdict is reused on resume only for exactly the program it judged.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.errors import DataError
from progsynth.store.jsonl import AppendOnlyStore, JsonlWriter, iter_records
from progsynth.verdicts import Verdict

SCHEMA = "progsynth.verdicts/1"


class Suite(enum.Enum):
    TESTS = "tests"
    CHALLENGE = "challenge"


def program_hash(program: str, tests: tuple[str, ...], setup: str) -> str:
    """Identity of what was executed: the program and the tests it was judged by."""
    h = hashlib.sha256()
    for part in (program, setup, *tests):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:20]


@dataclass(frozen=True)
class VerdictRecord:
    task_id: str
    sample_idx: int
    suite: Suite
    verdict: Verdict
    program_sha: str

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "sample_idx": self.sample_idx,
            "suite": self.suite.value,
            "program_sha": self.program_sha,
            **self.verdict.to_json(),
        }

    @classmethod
    def from_json(cls, path: Path, line: int, data: dict[str, Any]) -> VerdictRecord:
        try:
            return cls(
                task_id=str(data["task_id"]),
                sample_idx=int(data["sample_idx"]),
                suite=Suite(data.get("suite", "tests")),
                verdict=Verdict.from_json(data),
                program_sha=str(data.get("program_sha", "")),
            )
        except KeyError as exc:
            raise DataError(path, "missing", line=line, field=str(exc.args[0])) from None
        except (ValueError, TypeError) as exc:
            raise DataError(path, f"bad value ({exc})", line=line, field="status") from None


class VerdictStore(AppendOnlyStore):
    """Append-only, resumable store of verdict records keyed by (task_id, sample_idx, suite).

    A context manager: the file is closed however the block ends, so a crash never leaves a
    half-written line that the next run must repair.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, int, Suite], VerdictRecord] = {}
        if path.exists():
            for line, data in iter_records(path):
                rec = VerdictRecord.from_json(path, line, data)
                self.records[(rec.task_id, rec.sample_idx, rec.suite)] = rec
        self._writer = JsonlWriter(path)

    def get(self, task_id: str, idx: int, suite: Suite, program_sha: str) -> Verdict | None:
        """The stored verdict, if it judged exactly this program."""
        rec = self.records.get((task_id, idx, suite))
        return rec.verdict if rec is not None and rec.program_sha == program_sha else None

    def add(self, record: VerdictRecord) -> None:
        self.records[(record.task_id, record.sample_idx, record.suite)] = record
        self._writer.append(record.to_json())
