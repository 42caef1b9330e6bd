"""What a hostile case is. Each case is a program, its tests, the verdicts allowed when the named
protections are active, and what the host must look like afterwards (checked by the test module).

Placeholders filled in at run time: @CANARY@ (a world-writable file the program must not touch),
@HOSTDIR@ (a world-writable host directory), @PORT@ / @UDP@ (listeners on 127.0.0.1), @SECRET@
(name of an environment variable holding a secret in the caller), @CALLER@ (the test process, which
counts SIGUSR1), @VICTIM@ (a root-owned bystander process), @TOKEN@ (an expected value drawn at
random: it appears only in tests, never in a program, so no file or program can hold it), @GUESS@
(a value a cheating program "knows"), @DATAFILE@ (benchmark data with expected outputs).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from progsynth.verdicts import Status

P, F, E, T, K = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.KILLED
NOT_PASSED = frozenset({F, E, T, K})


class Category(enum.Enum):
    ESCAPE = "escape"
    RESOURCE = "resource"
    CHEAT = "cheat"
    CRASH = "crash"
    BENIGN = "benign"


@dataclass(frozen=True)
class Case:
    name: str
    category: Category
    program: str
    tests: tuple[str, ...]
    expect: frozenset[Status]
    #: protections that must be active for ``expect`` to hold (else the verdict is not asserted)
    needs: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    #: the program prints "PID <n>" for each process it leaves behind; all must be gone afterwards
    spawns: bool = False
    #: run only if one of these protections is active (the program would harm an unprotected host)
    run_if_any: tuple[str, ...] = ()


def case(name: str, category: Category, program: str, tests: tuple[str, ...], expect: Status | frozenset[Status],
         needs: tuple[str, ...] = (), error_types: tuple[str, ...] = (), spawns: bool = False,
         run_if_any: tuple[str, ...] = ()) -> Case:
    allowed = expect if isinstance(expect, frozenset) else frozenset({expect})
    return Case(name, category, program.strip() + "\n", tests, allowed, needs, error_types, spawns, run_if_any)


RIGHT = "def f(x):\n    return x * 2\n"
WRONG_TEST = ("assert f(21) == 42", "assert f(@TOKEN@) == @TOKEN@ * 3")
FS = ("filesystem", "landlock")
