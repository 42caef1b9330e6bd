"""Data sources: data dir, cache, verified download from a real HTTP server on 127.0.0.1, env config,
and record reading with file:line:field errors."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from progsynth.benchmarks.base import DataConfig
from progsynth.benchmarks.mbpp import MBPP, MBPP_FILE
from progsynth.benchmarks.records import read_rows
from progsynth.benchmarks.sources import data_config_from_env, default_cache_dir, resolve, sha256_file
from progsynth.errors import ChecksumError, DataError, UsageError

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
REL = "mbpp/mbpp.jsonl"
SHA = MBPP_FILE.sha256
REAL = (SHARED / REL).read_bytes()


@dataclass
class Server:
    """A real HTTP server in a thread, serving fixed bytes per path and counting requests."""

    files: dict[str, bytes]
    url: str = ""
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(files={"/mbpp/mbpp.jsonl": REAL, "/corrupt/mbpp.jsonl": REAL[:-200] + b"x" * 200})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_data_dir_wins_over_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "mbpp").mkdir(parents=True)
    shutil.copy(SHARED / REL, cache / REL)
    got = resolve(
        DataConfig(data_dir=SHARED, cache_dir=cache, allow_download=False), REL, sha256=SHA, url=None
    )
    assert got == SHARED / REL


def test_cache_used_when_data_dir_lacks_the_file(tmp_path: Path, server: Server) -> None:
    cache = tmp_path / "cache"
    (cache / "mbpp").mkdir(parents=True)
    shutil.copy(SHARED / REL, cache / REL)
    data = DataConfig(data_dir=tmp_path / "empty", cache_dir=cache)
    got = resolve(data, REL, sha256=SHA, url=server.url + "/mbpp/mbpp.jsonl")
    assert got == cache / REL
    assert server.hits == []


def test_download_is_verified_atomic_and_cached(tmp_path: Path, server: Server) -> None:
    cache = tmp_path / "cache"
    data = DataConfig(cache_dir=cache)
    got = resolve(data, REL, sha256=SHA, url=server.url + "/mbpp/mbpp.jsonl")
    assert got == cache / REL
    assert got.read_bytes() == REAL
    assert sorted(p.name for p in (cache / "mbpp").iterdir()) == ["mbpp.jsonl"]  # no temp file left
    resolve(data, REL, sha256=SHA, url=server.url + "/mbpp/mbpp.jsonl")
    assert server.hits == ["/mbpp/mbpp.jsonl"]  # second call served from the cache


def test_corrupt_download_is_rejected_and_not_saved(tmp_path: Path, server: Server) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as info:
        resolve(DataConfig(cache_dir=cache), REL, sha256=SHA, url=server.url + "/corrupt/mbpp.jsonl")
    text = _one_line(info.value)
    assert "/corrupt/mbpp.jsonl" in text and SHA in text and "not saved" in text
    assert not (cache / REL).exists()
    assert list((cache / "mbpp").iterdir()) == []


def test_corrupt_cache_copy_is_replaced_by_a_download(tmp_path: Path, server: Server) -> None:
    cache = tmp_path / "cache"
    (cache / "mbpp").mkdir(parents=True)
    (cache / REL).write_bytes(REAL[:1000])
    got = resolve(DataConfig(cache_dir=cache), REL, sha256=SHA, url=server.url + "/mbpp/mbpp.jsonl")
    assert sha256_file(got) == SHA
    assert server.hits == ["/mbpp/mbpp.jsonl"]


def test_http_error_names_the_file_the_places_and_the_fix(tmp_path: Path, server: Server) -> None:
    data = DataConfig(data_dir=tmp_path / "empty", cache_dir=tmp_path / "cache")
    with pytest.raises(DataError) as info:
        resolve(data, REL, sha256=SHA, url=server.url + "/missing.jsonl")
    text = _one_line(info.value)
    assert text.startswith(REL + ": ")
    assert "HTTP 404" in text and str(tmp_path / "empty" / REL) in text and "PROGSYNTH_DATA_DIR" in text


def test_no_download_when_disabled(tmp_path: Path, server: Server) -> None:
    data = DataConfig(cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(DataError) as info:
        resolve(data, REL, sha256=SHA, url=server.url + "/mbpp/mbpp.jsonl")
    assert "downloads are disabled" in _one_line(info.value)
    assert server.hits == []


def test_mirror_replaces_canonical_url_for_a_whole_benchmark(tmp_path: Path, server: Server) -> None:
    data = DataConfig(cache_dir=tmp_path / "cache", mirror=server.url + "/")
    problems = MBPP().load("test", data)
    assert len(problems) == 500
    assert server.hits == ["/mbpp/mbpp.jsonl"]
    assert (tmp_path / "cache" / REL).read_bytes() == REAL


def test_data_dir_checksum_mismatch_is_an_error_unless_opted_out(tmp_path: Path) -> None:
    (tmp_path / "mbpp").mkdir()
    edited = tmp_path / REL
    edited.write_bytes(REAL.replace(b"remove first and last", b"remove the first and last", 1))
    with pytest.raises(ChecksumError) as info:
        resolve(DataConfig(data_dir=tmp_path, allow_download=False), REL, sha256=SHA, url=None)
    text = _one_line(info.value)
    assert text.startswith(f"{edited}: ") and SHA in text and "PROGSYNTH_VERIFY_DATA=0" in text
    data = DataConfig(data_dir=tmp_path, allow_download=False, verify_sha256=False)
    assert resolve(data, REL, sha256=SHA, url=None) == edited
    assert "remove the first and last" in MBPP().load("test", data)[0].text


def test_fallback_location_is_tried_before_the_cache(tmp_path: Path) -> None:
    data = DataConfig(data_dir=tmp_path / "none", cache_dir=tmp_path / "cache", allow_download=False)
    got = resolve(data, REL, sha256=SHA, url=None, fallbacks=(tmp_path / "nope", SHARED / REL))
    assert got == SHARED / REL


@pytest.mark.parametrize("relpath", ["/etc/passwd", "../mbpp.jsonl", ""])
def test_relpath_must_stay_inside_the_data_dir(relpath: str) -> None:
    with pytest.raises(UsageError):
        resolve(DataConfig(allow_download=False), relpath, sha256=None, url=None)


def test_env_data_dir_is_honored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mbpp").mkdir()
    shutil.copy(SHARED / REL, tmp_path / REL)
    monkeypatch.setenv("PROGSYNTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PROGSYNTH_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("PROGSYNTH_OFFLINE", "1")
    data = data_config_from_env()
    assert data == DataConfig(data_dir=tmp_path, cache_dir=tmp_path / "c", allow_download=False)
    assert MBPP_FILE.resolve(data) == tmp_path / REL
    assert data_config_from_env(SHARED).data_dir == SHARED  # an explicit --data-dir wins


def test_env_defaults_and_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROGSYNTH_DATA_DIR", "PROGSYNTH_CACHE_DIR", "PROGSYNTH_OFFLINE", "PROGSYNTH_DATA_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PROGSYNTH_VERIFY_DATA", "no")
    data = data_config_from_env()
    assert data.data_dir is None and data.allow_download and not data.verify_sha256
    assert data.cache_dir == default_cache_dir() == tmp_path / "xdg" / "progsynth"
    monkeypatch.setenv("PROGSYNTH_OFFLINE", "maybe")
    with pytest.raises(UsageError, match="PROGSYNTH_OFFLINE"):
        data_config_from_env()
    monkeypatch.delenv("PROGSYNTH_OFFLINE")
    monkeypatch.setenv("PROGSYNTH_DATA_MIRROR", "ftp://example.org/data")
    with pytest.raises(UsageError, match="unsupported URL scheme"):
        data_config_from_env()
    with pytest.raises(UsageError, match="not a directory"):
        data_config_from_env(tmp_path / "missing")


# --- record reading --------------------------------------------------------------------------------


def test_jsonl_truncated_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": "tru')
    with pytest.raises(DataError) as info:
        read_rows(path)
    assert _one_line(info.value).startswith(f"{path}:3: invalid JSON")


def test_json_array_rows_know_their_line_and_index(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[\n  {"a": 1},\n\n  {"a": "s",\n   "b": [1]}\n]\n')
    rows = read_rows(path)
    assert [(r.line, r.index) for r in rows] == [(2, 0), (4, 1)]
    with pytest.raises(DataError) as info:
        rows[1].text_list("b")
    assert _one_line(info.value) == f"{path}:4: field 'b': record 1: item 0: expected a string, got int"
    with pytest.raises(DataError, match=r":2: field 'z': record 0: missing"):
        rows[0].text("z")


@pytest.mark.parametrize(
    ("content", "line", "needle"),
    [
        ('{"a": 1}', 1, "expected a JSON array"),
        ('[{"a": 1},\n {"a": 2}', 2, "invalid JSON"),
        ('[{"a": 1}\n {"a": 2}]', 2, "expected ',' or ']'"),
        ('[{"a": 1}, 3]', 1, "record 1: expected a JSON object, got int"),
        ('[{"a": 1}]\n[]', 2, "extra data"),
    ],
)
def test_json_array_defects(tmp_path: Path, content: str, line: int, needle: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_rows(path)
    text = _one_line(info.value)
    assert text.startswith(f"{path}:{line}: ") and needle in text


def test_gzip_and_encoding_defects(tmp_path: Path) -> None:
    bad_gz = tmp_path / "x.jsonl.gz"
    bad_gz.write_bytes((SHARED / "humaneval" / "HumanEval.jsonl.gz").read_bytes()[:20000])
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_rows(bad_gz)
    latin = tmp_path / "y.jsonl"
    latin.write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"y.jsonl:2: not UTF-8"):
        read_rows(latin)
    (tmp_path / "z.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unknown data file format"):
        read_rows(tmp_path / "z.csv")
