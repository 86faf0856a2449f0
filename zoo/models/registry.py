"""The recipe store: ``@register_model`` files a builder function under its name.

Only the store lives here, so that family modules can register themselves
without importing anything above ``zoo.models``; looking recipes up (and
importing the families first) is :mod:`zoo.families`' job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` under its function name; a duplicate name is an error.

    Example:
        >>> @register_model
        ... def ae_tiny(input_shape=(28, 28, 1), latent_dim=4):
        ...     return assemble("dense", input_shape, latent_dim, (16,), name="ae_tiny")
    """
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"A model named {name!r} is already registered.")
    _MODELS[name] = fn
    return fn


def registered() -> dict[str, Callable[..., Any]]:
    """A copy of the store: name -> builder, for the builders imported so far."""
    return dict(_MODELS)
