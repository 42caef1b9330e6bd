"""The model-backend interface: one required method, like an httpx ``BaseTransport``.

A backend only has to turn one request into completions. Everything else a run needs has a declared
default here, so callers never probe a backend for optional methods: batches (``generate_many``),
the record for the results file (``describe``), releasing resources (``close``, context manager).
What a backend accepts is declared on the class (``options``, ``supports_chat``,
``default_concurrency``) so the CLI can build its flags without starting a model.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Self

from progsynth.options import OptionSpec, parse_options
from progsynth.types import Completion, GenerationRequest


class Backend(abc.ABC):
    """Turns a prompt into ``request.params.n`` completions.

    Backends never raise for a single bad prompt (e.g. longer than the context): they return
    completions with ``FinishReason.ERROR``. They raise ``BackendError`` only when they cannot work
    at all (missing model, unreachable server, bad key), and ``TransientBackendError`` for a failure
    worth retrying; retries and concurrency are added around every backend by ``Managed``.

    Class attributes every backend declares:

    * ``label``: its registry name, used in messages and in ``describe()``;
    * ``options``: the keyword options its constructor takes besides ``model`` (validated with
      ``parse_options``; those with a ``flag`` get a command-line flag of their own);
    * ``supports_chat``: it has a ``chat`` option that wraps prompts in the model's chat template;
    * ``supports_reply_prefix``: in chat mode it can open the model's turn with a request's
      ``reply_prefix`` (it renders the template itself; an OpenAI-style API cannot);
    * ``default_concurrency``: how many requests ``Managed`` sends at once unless told otherwise.

    Every constructor takes ``model`` (the CLI's generic ``--model``); ``name`` is recorded in
    sample files.
    """

    label: ClassVar[str]
    options: ClassVar[tuple[OptionSpec, ...]] = ()
    supports_chat: ClassVar[bool] = False
    supports_reply_prefix: ClassVar[bool] = False
    default_concurrency: ClassVar[int] = 1

    name: str

    @classmethod
    def checked_options(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """``raw`` checked against ``options``: every declared option, defaults filled in."""
        return parse_options(f"{cls.label} backend", cls.options, raw)

    def preferred_concurrency(self) -> int:
        """Requests ``Managed`` keeps in flight unless told: the class's ``default_concurrency``,
        or what this instance can serve (e.g. the sum of several servers' concurrency)."""
        return self.default_concurrency

    def prefills_reply(self) -> bool:
        """Whether requests' ``reply_prefix`` reaches the model (wrappers ask what they wrap)."""
        return self.supports_reply_prefix

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> list[Completion]:
        """Exactly ``request.params.n`` completions, samples ``request.first_idx`` onwards."""

    def generate_many(
        self, requests: Iterable[GenerationRequest]
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        """Each request with its completions; one after another, in order (``Managed`` overlaps them)."""
        for request in requests:
            yield request, self.generate(request)

    def describe(self) -> dict[str, Any]:
        """What the results file records about the model; backends add their settings."""
        return {"name": self.name, "backend": self.label}

    def close(self) -> None:  # noqa: B027 (a no-op default, not a forgotten abstract method)
        """Release the model, server or connections (nothing to release by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
