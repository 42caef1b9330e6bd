"""Finding and reading the raw MathQA files, and caching their conversion per process.

Each split's file (``mathqa/dev.json``...) is taken from the data directory, the cache or a mirror,
else (downloads allowed) unpacked from the MathQA project's ``MathQA.zip`` into the cache.
dev/test/challenge_test are checked against their published sha256; ``train.json`` has none.
Everything except the ``train`` split works without ``train.json``.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from progsynth.benchmarks.base import DataConfig
from progsynth.benchmarks.mathqa.convert import (
    PAPER_RULES,
    Conversion,
    ConversionRules,
    RawRecord,
    convert_records,
)
from progsynth.benchmarks.sources import resolve
from progsynth.errors import ChecksumError, DataError

MATHQA_ZIP_URL = "https://math-qa.github.io/math-QA/data/MathQA.zip"
#: the largest member we agree to unpack (train.json is about 20 MB)
MAX_MEMBER_BYTES = 256 * 1024 * 1024


class Split(enum.Enum):
    """MathQA-Python splits and the MathQA file each is converted from."""

    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"
    CHALLENGE = "challenge"

    @property
    def filename(self) -> str:
        return _FILES[self]

    @property
    def relpath(self) -> str:
        return f"mathqa/{self.filename}"


_FILES = {
    Split.TRAIN: "train.json",
    Split.VALIDATION: "dev.json",
    Split.TEST: "test.json",
    Split.CHALLENGE: "challenge_test.json",
}

#: sha256 of the published files (see shared/data/README.md); train.json has no published checksum
SHA256: dict[Split, str] = {
    Split.VALIDATION: "aeca12424fc8f32d0e35c09b7738986a446c12f110c8071f3cc8913712f04bf3",
    Split.TEST: "dfe7bc4691caf26842ccd4cf14e8f978327bab4f2989e0b076a4e6b38a9371d1",
    Split.CHALLENGE: "76cfe1091d19c61a95abc8cca23dfde9e1690bdb6a0b42a35453193483253579",
}

_REQUIRED = ("Problem", "Rationale", "options", "correct", "linear_formula", "category")


def split_path(split: Split, data: DataConfig, *, zip_url: str = MATHQA_ZIP_URL) -> Path:
    """A local copy of the MathQA file behind ``split``: the data dir, the cache or a mirror, else
    (downloads allowed) unpacked from ``MathQA.zip`` into the cache and checked against its sha256
    where one is published. Raises ``DataError`` when no copy can be had."""
    sha256 = SHA256.get(split)
    try:
        return resolve(data, split.relpath, sha256=sha256, url=None)
    except ChecksumError:
        raise
    except DataError:
        if not data.allow_download:
            raise
    archive = resolve(data, "mathqa/MathQA.zip", sha256=None, url=zip_url)
    return extract_member(archive, split.filename, data.cache_root() / split.relpath, sha256=sha256)


def train_available(data: DataConfig) -> bool:
    """Whether ``train.json`` is already on this machine (never downloads)."""
    try:
        split_path(Split.TRAIN, replace(data, allow_download=False, mirror=None))
    except DataError:
        return False
    return True


def extract_member(archive: Path, name: str, dest: Path, *, sha256: str | None = None) -> Path:
    """Unpack the member of ``archive`` whose file name is ``name`` (any folder) to ``dest``.

    Written to a temp file beside ``dest``, checked (size bound, ``sha256`` when given), then
    renamed, so an interrupted or wrong unpack leaves nothing a later run would trust. Member paths
    are never used for writing (no zip-slip).
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [i for i in zf.infolist() if not i.is_dir() and Path(i.filename).name == name]
            if not members:
                raise DataError(archive, f"the archive holds no {name}")
            info = min(members, key=lambda i: len(i.filename))
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                    digest = _copy_bounded(src, out, archive, info.filename)
                if sha256 is not None and digest != sha256:
                    raise ChecksumError(archive, f"{info.filename} has sha256 {digest}, expected {sha256}")
                os.replace(tmp_name, dest)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(archive, f"cannot unpack {name}: {exc}") from None
    return dest


def _copy_bounded(src: IO[bytes], out: IO[bytes], archive: Path, member: str) -> str:
    """Copy at most ``MAX_MEMBER_BYTES`` (a zip's declared sizes can lie); returns the sha256."""
    digest = hashlib.sha256()
    total = 0
    while chunk := src.read(1 << 20):
        total += len(chunk)
        if total > MAX_MEMBER_BYTES:
            raise DataError(archive, f"{member} is larger than {MAX_MEMBER_BYTES} bytes")
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def read_records(path: Path) -> list[RawRecord]:
    """Parse a MathQA JSON array, checking each record's fields; errors name file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read: {exc}") from None
    lines = _LineCounter(text)
    decoder = json.JSONDecoder()
    try:
        pos = _skip_ws(text, 0)
        if text[pos : pos + 1] != "[":
            raise DataError(path, "expected a JSON array of records", line=lines.at(pos))
        records: list[RawRecord] = []
        pos = _skip_ws(text, pos + 1)
        while text[pos : pos + 1] != "]":
            line = lines.at(pos)
            obj, pos = decoder.raw_decode(text, pos)
            records.append(_record(obj, path, line))
            pos = _skip_ws(text, pos)
            if text[pos : pos + 1] == ",":
                pos = _skip_ws(text, pos + 1)
            elif text[pos : pos + 1] != "]":
                raise DataError(path, "expected ',' or ']' after a record", line=lines.at(pos))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    return records


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


class _LineCounter:
    """1-based line of a position, counted incrementally (positions only move forward)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _record(obj: Any, path: Path, line: int) -> RawRecord:
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a record object, got {type(obj).__name__}", line=line)
    for key in _REQUIRED:
        if not isinstance(obj.get(key), str):
            problem = "missing" if key not in obj else f"expected a string, got {type(obj[key]).__name__}"
            raise DataError(path, problem, line=line, field=key)
    return RawRecord(
        problem=obj["Problem"],
        rationale=obj["Rationale"],
        options=obj["options"],
        correct=obj["correct"],
        linear_formula=obj["linear_formula"],
        category=obj["category"],
        annotated_formula=str(obj.get("annotated_formula", "")),
        line=line,
    )


@dataclass(frozen=True)
class _FileKey:
    path: str
    size: int
    mtime_ns: int


def convert_file(path: Path, rules: ConversionRules = PAPER_RULES) -> Conversion:
    """The conversion of ``path``, computed once per process per (file version, rules)."""
    st = path.stat()
    return _convert_cached(_FileKey(str(path.resolve()), st.st_size, st.st_mtime_ns), rules)


@functools.lru_cache(maxsize=16)
def _convert_cached(key: _FileKey, rules: ConversionRules) -> Conversion:
    return convert_records(read_records(Path(key.path)), rules)


def load_split(split: Split, data: DataConfig, rules: ConversionRules = PAPER_RULES) -> Conversion:
    """Resolve, read and convert the file behind ``split``."""
    return convert_file(split_path(split, data), rules)
