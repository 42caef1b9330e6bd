"""Reading MathQA files (errors name file, line, field) and getting train.json from MathQA.zip,
including a real download from a local HTTP server."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from progsynth.benchmarks.base import DataConfig
from progsynth.benchmarks.mathqa import data as mathqa_data
from progsynth.benchmarks.mathqa.data import (
    Split,
    extract_member,
    load_split,
    read_records,
    split_path,
    train_available,
)
from progsynth.errors import ChecksumError, DataError

DATA_DIR = Path(
    os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
DEV = DATA_DIR / "mathqa" / "dev.json"
VALID = {
    "Problem": "p 1",
    "Rationale": "r",
    "options": "a ) 1",
    "correct": "a",
    "linear_formula": "add(n0,n0)",
    "category": "general",
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _small_train(n: int = 40) -> str:
    """A stand-in train.json: the first ``n`` dev records, pretty-printed like the real files."""
    return json.dumps(json.loads(DEV.read_text(encoding="utf-8"))[:n], indent=4)


# --- reading ---------------------------------------------------------------------------------------


def test_read_real_file_with_lines() -> None:
    records = read_records(DEV)
    assert len(records) == 4475
    assert records[0].line == 2 and records[0].correct == "c"
    text = DEV.read_text(encoding="utf-8").splitlines()
    assert text[records[1].line - 1].strip() == "{"


def test_missing_field_names_line_and_field(tmp_path: Path) -> None:
    record = {"Problem": "p 1", "Rationale": "r", "options": "a ) 1", "correct": "a", "category": "general"}
    path = _write(tmp_path / "bad.json", json.dumps([record, record], indent=4))
    with pytest.raises(DataError) as info:
        read_records(path)
    assert str(info.value) == f"{path}:2: field 'linear_formula': missing"


def test_wrong_field_type(tmp_path: Path) -> None:
    record = {
        "Problem": "p",
        "Rationale": "r",
        "options": ["a ) 1"],
        "correct": "a",
        "linear_formula": "add(n0,n0)",
        "category": "general",
    }
    path = _write(tmp_path / "bad.json", "[\n" + json.dumps(record) + "\n]")
    with pytest.raises(DataError, match=r"bad.json:2: field 'options': expected a string, got list"):
        read_records(path)


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"Problem": "x"}', r":1: expected a JSON array"),
        ("[\n1\n]", r":2: expected a record object, got int"),
        ('[\n{"Problem": }\n]', r":2: invalid JSON"),
        ("[\n" + json.dumps(VALID) + "\n" + json.dumps(VALID) + "]", r":3: expected ',' or ']'"),
    ],
)
def test_malformed_json(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_records(_write(tmp_path / "bad.json", text))


# --- locating files --------------------------------------------------------------------------------


def test_train_absent_is_a_clear_error(tmp_path: Path) -> None:
    data = DataConfig(data_dir=DATA_DIR, cache_dir=tmp_path / "cache", allow_download=False)
    assert not train_available(data)
    with pytest.raises(DataError, match="mathqa/train.json: data file not found"):
        split_path(Split.TRAIN, data)


def test_train_from_the_data_dir(tmp_path: Path) -> None:
    _write(tmp_path / "data" / "mathqa" / "train.json", _small_train())
    data = DataConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)
    assert train_available(data)
    items = load_split(Split.TRAIN, data).items
    assert [i.source_index for i in items] == [
        i.source_index
        for i in load_split(Split.VALIDATION, DataConfig(data_dir=DATA_DIR)).items
        if i.source_index < 40
    ]


def test_edited_dev_file_fails_its_checksum(tmp_path: Path) -> None:
    _write(tmp_path / "data" / "mathqa" / "dev.json", _small_train())
    with pytest.raises(ChecksumError, match="dev.json: sha256 is"):
        split_path(Split.VALIDATION, DataConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "c"))


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def test_extract_member_from_a_subfolder(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "MathQA.zip", {"MathQA/train.json": b"[]", "../evil/train.json": b"x"})
    dest = extract_member(archive, "train.json", tmp_path / "out" / "train.json")
    assert dest.read_bytes() == b"[]"
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["train.json"]  # no temp file left


def test_extract_member_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(tmp_path / "MathQA.zip", {"dev.json": b"[]"})
    with pytest.raises(DataError, match="holds no train.json"):
        extract_member(archive, "train.json", tmp_path / "train.json")
    big = _zip(tmp_path / "big.zip", {"train.json": b"x" * 2048})
    monkeypatch.setattr(mathqa_data, "MAX_MEMBER_BYTES", 1024)
    with pytest.raises(DataError, match="larger than 1024 bytes"):
        extract_member(big, "train.json", tmp_path / "train.json")
    assert list(tmp_path.glob("*.part")) == [] and not (tmp_path / "train.json").exists()
    broken = _write(tmp_path / "broken.zip", "not a zip")
    with pytest.raises(DataError, match="cannot unpack train.json"):
        extract_member(broken, "train.json", tmp_path / "train.json")


class _Server:
    """A real HTTP server on 127.0.0.1 serving a folder and recording requested paths."""

    def __init__(self, root: Path) -> None:
        requests: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                requests.append(self.path)

        self.requests = requests
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    root.mkdir()
    _zip(
        root / "MathQA.zip",
        {"MathQA/train.json": _small_train().encode(), "MathQA/dev.json": DEV.read_bytes()},
    )
    _zip(root / "Edited.zip", {"dev.json": _small_train().encode()})
    srv = _Server(root)
    yield srv
    srv.close()


def test_train_is_downloaded_once_and_cached(tmp_path: Path, server: _Server) -> None:
    data = DataConfig(data_dir=tmp_path / "empty", cache_dir=tmp_path / "cache", allow_download=True)
    path = split_path(Split.TRAIN, data, zip_url=server.url("MathQA.zip"))
    assert path == tmp_path / "cache" / "mathqa" / "train.json"
    assert len(load_split(Split.TRAIN, data).items) > 0
    assert split_path(Split.TRAIN, data, zip_url=server.url("MathQA.zip")) == path
    assert [r for r in server.requests if "MathQA.zip" in r] == ["/MathQA.zip"]
    assert train_available(data)


def test_dev_unpacked_from_the_zip_is_checked(tmp_path: Path, server: _Server) -> None:
    data = DataConfig(data_dir=None, cache_dir=tmp_path / "cache", allow_download=True)
    path = split_path(Split.VALIDATION, data, zip_url=server.url("MathQA.zip"))
    assert path.read_bytes() == DEV.read_bytes()
    other = DataConfig(data_dir=None, cache_dir=tmp_path / "cache2", allow_download=True)
    with pytest.raises(ChecksumError, match="dev.json has sha256 .*, expected aeca1242"):
        split_path(Split.VALIDATION, other, zip_url=server.url("Edited.zip"))
    assert not (tmp_path / "cache2" / "mathqa" / "dev.json").exists()


def test_failed_download_says_where_it_looked(tmp_path: Path, server: _Server) -> None:
    data = DataConfig(data_dir=None, cache_dir=tmp_path / "cache", allow_download=True)
    with pytest.raises(DataError, match=r"mathqa/MathQA.zip: data file not found.*HTTP 404"):
        split_path(Split.TRAIN, data, zip_url=server.url("missing.zip"))
    assert list((tmp_path / "cache").rglob("*")) in (
        [],
        [tmp_path / "cache" / "mathqa"],
    )  # nothing half-written
