"""Model backends, one module each, imported lazily so optional extras stay optional.

Importing a backend's module is cheap (its heavy dependencies load in its constructor), so
``backend_class`` lets the CLI read what a backend declares (``options``, ``supports_chat``)
without starting a model. ``create_backend`` starts one and wraps it in ``Managed`` (retries,
concurrency), which every backend gets the same way.
"""

from __future__ import annotations

import importlib
from typing import Any

from progsynth.backends.base import Backend
from progsynth.backends.managed import MANAGED_OPTIONS, Managed
from progsynth.errors import UsageError
from progsynth.options import OptionSpec, parse_options

_REGISTRY: dict[str, str] = {
    "reference": "progsynth.backends.reference:ReferenceBackend",
    "mock": "progsynth.backends.mock:MockBackend",
    "llamacpp": "progsynth.backends.llamacpp:LlamaCppBackend",
    "openai": "progsynth.backends.openai:OpenAIBackend",
    "transformers": "progsynth.backends.hf:TransformersBackend",
}

DEFAULT_BACKEND = "llamacpp"


def backend_names() -> list[str]:
    return list(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name``, for its declarations; nothing is loaded or started."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown backend '{name}'; choose from {', '.join(_REGISTRY)}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"{target} is not a Backend")
    return cls


def backend_options(name: str) -> tuple[OptionSpec, ...]:
    """Every option ``create_backend(name, ...)`` accepts besides ``model``: the backend's own, then
    the retry/concurrency ones every backend gets."""
    return backend_class(name).options + MANAGED_OPTIONS


def create_backend(name: str, **options: Any) -> Managed:
    """Start backend ``name`` with its options (e.g. ``model=``, ``base_url=``, ``concurrency=``).

    The retry/concurrency options are checked before the backend starts (a bad value must not cost
    a model load); the backend checks the rest. The result is a ``Managed`` backend; the backend
    itself is its ``inner``.
    """
    cls = backend_class(name)
    managed = {spec.name: options.pop(spec.name) for spec in MANAGED_OPTIONS if spec.name in options}
    settings = parse_options(f"{name} backend", MANAGED_OPTIONS, managed)
    return Managed(cls(**options), **settings)


__all__ = [
    "DEFAULT_BACKEND",
    "MANAGED_OPTIONS",
    "Backend",
    "Managed",
    "backend_class",
    "backend_names",
    "backend_options",
    "create_backend",
]
