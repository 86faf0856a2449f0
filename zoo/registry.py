"""Name -> builder registry for autoencoder recipes.

A recipe is a small function decorated with :func:`register_model`; callers'
keyword arguments override its defaults. Unknown names and unknown arguments
fail with the close matches spelled out.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` under its function name; a duplicate name is an error."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"A model named {name!r} is already registered.")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered builders, optionally filtered by a substring."""
    return sorted(n for n in _MODELS if pattern is None or pattern in n)


def unknown_name_error(kind: str, name: str, known: list[str]) -> ValueError:
    """A ``ValueError`` for an unknown name that lists the close matches."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known {kind}s: {', '.join(known)}."
    return ValueError(f"Unknown {kind} {name!r}.{hint}")


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name``."""
    if name not in _MODELS:
        raise unknown_name_error("model", name, list_models())
    return _MODELS[name]


def builder_arguments(name: str) -> dict[str, Any]:
    """The builder's keyword arguments and their defaults."""
    sig = inspect.signature(get_builder(name))
    return {k: p.default for k, p in sig.parameters.items()}


def build_model(name: str, **kwargs: Any):
    """Build a registered architecture with fresh weights (see :func:`zoo.create_model` for entries too).

    Args:
        name: A name from :func:`list_models`, e.g. ``"ae_conv"``.
        **kwargs: ``input_shape``, ``latent_dim`` and the family's arguments;
            they override the recipe's defaults.

    Returns:
        A :class:`zoo.Autoencoder`.

    Raises:
        ValueError: For an unknown name, an argument the recipe does not take,
            or an invalid hyperparameter.

    Example:
        >>> model = build_model("sparse_kl_dense", latent_dim=64, rho=0.05, beta=0.1)
    """
    builder = get_builder(name)
    accepted = builder_arguments(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name} does not take argument(s) {unknown}. Accepted: {sorted(accepted)}."
        )
    return builder(**kwargs)
