"""aezoo: a Keras 3 model zoo of autoencoders.

Importing ``zoo`` is light: names, cards and argument parsing need neither
Keras nor TensorFlow, so ``aezoo list`` answers at once. Models, layers and
the rest load on first use (module ``__getattr__``, PEP 562). ``import zoo`` is
still enough for ``keras.saving.load_model`` of any zoo ``.keras`` file: the
first time Keras looks up an ``aezoo>`` class it does not know, the modules
that register them are imported (:func:`zoo.utils.keras_hook.register_on_lookup`).

Example:
    >>> import zoo
    >>> zoo.list_models()[:3]
    ['ae_conv', 'ae_dense', 'contractive_dense']
    >>> model = zoo.create_model("vae_conv", input_shape=(28, 28, 1), latent_dim=16)
    >>> ae = zoo.create_model("ae_conv.mnist", pretrained=True)
"""

from __future__ import annotations

import importlib

from zoo.families import list_models
from zoo.models.registry import register_model
from zoo.pretrained import get_card, list_pretrained, load_encoder, load_pretrained, load_weights
from zoo.utils.keras_hook import register_on_lookup
from zoo.version import __version__

#: Public names loaded on first use: name -> module that defines it.
_LAZY = {
    "create_model": "zoo.factory",
    "CodeHead": "zoo.models.heads",
    "PARTS": "zoo.models.autoencoder", "VAE": "zoo.models.autoencoder", "Autoencoder": "zoo.models.autoencoder",
    "ContractiveAutoencoder": "zoo.models.autoencoder",
    "interpolate": "zoo.evaluation.generate",
}
#: Modules reachable as attributes (``zoo.regularizers.KLSparsity``): name -> module.
_SUBMODULES = {
    "heads": "zoo.models.heads", "layers": "zoo.models.layers", "losses": "zoo.models.losses",
    "regularizers": "zoo.models.regularizers", "families": "zoo.families", "models": "zoo.models",
}

#: Modules that register ``aezoo>`` Keras classes, besides the family modules (tests/test_legacy_files.py checks it).
KERAS_CLASS_MODULES = (
    "zoo.models.autoencoder", "zoo.models.backend", "zoo.models.heads", "zoo.models.layers", "zoo.models.ported",
    "zoo.models.quantize", "zoo.models.regularizers", "zoo.anomaly.scores", "zoo.anomaly.ensemble",
)


def _register_keras_classes() -> None:
    """Import every module that registers an ``aezoo>`` class with Keras (and every family's)."""
    for module in KERAS_CLASS_MODULES:
        importlib.import_module(module)
    from zoo.families import load_families

    load_families()


register_on_lookup("aezoo", _register_keras_classes)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    "PARTS",
    "VAE",
    "Autoencoder",
    "CodeHead",
    "ContractiveAutoencoder",
    "create_model",
    "get_card",
    "heads",
    "interpolate",
    "list_pretrained",
    "load_encoder",
    "load_pretrained",
    "load_weights",
    "layers",
    "list_models",
    "losses",
    "register_model",
    "regularizers",
]
