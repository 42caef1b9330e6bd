"""The value one expression takes after a program has run, computed in the sandbox.

Two experiments need a value a program really computes, and neither may evaluate program text on
the host: execution prediction (what the reference solution returns on each assert's call) and the
dialog's automatic feedback (what the model's program returned on the assert it failed). A probe is
an ordinary ``ExecRequest`` whose setup ends in a small function that evaluates the expression and
prints one line behind a marker: the value's ``repr`` (cut past ``limit`` characters), its type
name, and whether that repr reads back as an equal literal (``ast.literal_eval``). The caller draws
one random marker per batch (``new_marker``) and reads the last marked line of the verdict's stdout
(``read_probe``); a program that raises before the probe leaves no line.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from progsynth.execution.api import ExecRequest, Limits

#: longest repr a probe reports in full (one more character marks a longer one)
MAX_REPR = 1000

_PROBE = """
def __progsynth_probe__():
    import ast as _ast, json as _json
    _value = ({expression})
    _text = repr(_value)
    try:
        _back = _ast.literal_eval(_text) if len(_text) <= {limit} else None
        _same = len(_text) <= {limit} and type(_back) is type(_value) and _back == _value
    except Exception:
        _same = False
    print("\\n" + {marker!r} + _json.dumps({{"repr": _text[:{limit} + 1], "type": type(_value).__name__,
                                             "literal": bool(_same)}}), flush=True)
__progsynth_probe__()
"""


@dataclass(frozen=True)
class Probed:
    """What the probe printed. ``text`` is longer than the limit when the repr was cut."""

    text: str
    type_name: str
    literal: bool


def new_marker() -> str:
    """A marker no program can know in advance (one per batch of probes)."""
    return f"@@progsynth-probe-{secrets.token_hex(8)}@@"


def probe_request(key: str, program: str, expression: str, *, setup: str = "", tests: tuple[str, ...] = (),
                  limits: Limits, marker: str, limit: int = MAX_REPR) -> ExecRequest:
    """Run ``program``, then ``setup`` and the probe of ``expression``, then ``tests`` as usual."""
    probe = _PROBE.format(expression=expression, limit=limit, marker=marker)
    full_setup = (setup.rstrip("\n") + "\n" if setup.strip() else "") + probe
    return ExecRequest(key, program, tests, full_setup, limits)


def read_probe(stdout: str, marker: str) -> Probed | None:
    """The probe's report from a verdict's stdout; None when there is no marked line (the program
    or the expression raised first). A marked line that does not read back is a ValueError."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(marker)), None)
    if line is None:
        return None
    try:
        payload = json.loads(line[len(marker):])
        return Probed(str(payload["repr"]), str(payload["type"]), payload["literal"] is True)
    except (ValueError, KeyError, TypeError):
        raise ValueError("the probe's line did not read back") from None
