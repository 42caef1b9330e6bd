"""Model backends, one module each, imported lazily so optional extras stay optional."""

from __future__ import annotations

import importlib
from typing import Any

from progsynth.backends.base import Backend
from progsynth.errors import UsageError

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


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate backend ``name`` with its options (e.g. ``model=``, ``base_url=``)."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown backend '{name}'; choose from {', '.join(_REGISTRY)}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    backend: Backend = cls(**options)
    return backend


__all__ = ["DEFAULT_BACKEND", "Backend", "backend_names", "create_backend"]
