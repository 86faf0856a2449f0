"""Models: the autoencoder classes and the parts every family is composed of.

``autoencoder`` (the model classes) is built from ``assemble`` (recipes' common
builder), ``backbones`` (dense and conv networks), ``heads`` (what sits between
encoder and decoder), ``layers`` (input corruptions), ``ported`` (layers that
reproduce PyTorch numerics), ``regularizers``, ``losses`` and ``metrics``;
``backend`` holds what differs per Keras backend, ``registry`` the recipe store.
Importing this package is light: the classes below load on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {name: "zoo.models.autoencoder" for name in ("Autoencoder", "VAE", "ContractiveAutoencoder", "PARTS")}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'zoo.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
