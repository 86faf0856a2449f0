"""Name -> builder registry for autoencoder recipes.

A recipe is a small function decorated with :func:`register_model`; callers'
keyword arguments override its defaults. Unknown names and unknown arguments
fail with the close matches spelled out.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_MODELS: dict[str, Callable[..., Any]] = {}
_FAMILIES = Path(__file__).parent / "families"


def _load_families() -> None:
    """Import ``zoo.families`` (which registers the recipes) the first time a builder is needed."""
    if "zoo.families" not in sys.modules:
        importlib.import_module("zoo.families")


def scanned_model_names() -> list[str]:
    """Names of the recipes in ``zoo/families/``, read from the source without importing Keras.

    A function decorated with ``@register_model`` (or ``@registry.register_model``)
    is registered under its name, so the source says which names exist; listing
    them this way keeps ``aezoo list`` fast. ``tests/test_api.py`` checks it against the registry.
    """
    names = []
    for path in sorted(_FAMILIES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef) and any(
                    (d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", None)) == "register_model"
                    for d in node.decorator_list):
                names.append(node.name)
    return names


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` under its function name; a duplicate name is an error."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"A model named {name!r} is already registered.")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered builders, optionally filtered by a substring.

    Before the families are imported, the names come from their source
    (:func:`scanned_model_names`), so listing them does not import Keras.
    """
    names = set(_MODELS) if "zoo.families" in sys.modules else set(_MODELS) | set(scanned_model_names())
    return sorted(n for n in names if pattern is None or pattern in n)


def unknown_name_error(kind: str, name: str, known: list[str]) -> ValueError:
    """A ``ValueError`` for an unknown name that lists the close matches."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known {kind}s: {', '.join(known)}."
    return ValueError(f"Unknown {kind} {name!r}.{hint}")


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name``."""
    _load_families()
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
