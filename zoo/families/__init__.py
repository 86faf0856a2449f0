"""The catalog of autoencoder recipes: one module per family, found and imported on first use.

Adding a family is adding a module here whose recipes carry ``@register_model``
(see ``docs/contributing.md``); no other file changes. Listing the names reads
the modules' source, so ``aezoo list`` does not import Keras; building one
imports every family module once.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.models.registry import registered
from zoo.utils.checks import unknown_name_error

_HERE = Path(__file__).parent
_LOADED = False


def _family_modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules([str(_HERE)]) if not m.name.startswith("_")]


def load_families() -> None:
    """Import every family module (each registers its recipes and Keras classes); idempotent."""
    global _LOADED
    if not _LOADED:
        for name in _family_modules():
            importlib.import_module(f"{__name__}.{name}")
        _LOADED = True


def scanned_model_names() -> list[str]:
    """Names of the recipes in ``zoo/families/``, read from the source without importing Keras.

    A function decorated with ``@register_model`` (or ``@registry.register_model``)
    is registered under its name, so the source says which names exist; listing
    them this way keeps ``aezoo list`` fast. ``tests/test_api.py`` checks it against the registry.
    """
    names = []
    for module in _family_modules():
        path = _HERE / f"{module}.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef) and any(
                    (d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", None)) == "register_model"
                    for d in node.decorator_list):
                names.append(node.name)
    return names


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered builders, optionally filtered by a substring.

    Before the families are imported, the names come from their source
    (:func:`scanned_model_names`), so listing them does not import Keras.
    """
    names = set(registered()) if _LOADED else set(registered()) | set(scanned_model_names())
    return sorted(n for n in names if pattern is None or pattern in n)


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name``; an unknown name lists the close matches."""
    load_families()
    builders = registered()
    if name not in builders:
        raise unknown_name_error("model", name, list_models())
    return builders[name]


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
