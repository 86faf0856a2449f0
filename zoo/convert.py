"""Convert PyTorch Tiny AutoEncoder checkpoints (``taesd_encoder.pth`` and the like) into zoo weights.

Every Keras layer with weights in :mod:`zoo.families.tae` is named after the
PyTorch module it reproduces (dots as dashes), so the mapping is by name: a
``Conv2d`` weight ``(out, in, kh, kw)`` becomes a Keras kernel ``(kh, kw, in, out)``,
a ``GroupNorm``'s weight and bias become gamma and beta. The conversion refuses,
in one line naming the first problem, a checkpoint with a missing or unused
tensor or a shape that differs; nothing is half-loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

#: Variant -> builder and its arguments; a checkpoint's file name starts with the variant.
VARIANTS: dict[str, dict] = {
    "taesd": {"model": "tae", "latent_dim": 4, "family_args": {"midblock_gn": False}},
    "taesdxl": {"model": "tae", "latent_dim": 4, "family_args": {"midblock_gn": False}},
    "taesd3": {"model": "tae", "latent_dim": 16, "family_args": {"midblock_gn": False}},
    "taef1": {"model": "tae", "latent_dim": 16, "family_args": {"midblock_gn": False}},
    "taef2": {"model": "tae", "latent_dim": 32, "family_args": {"midblock_gn": True}},
    "taesana": {"model": "tae_f32", "latent_dim": 32, "family_args": {}},
}


class ConversionError(ValueError):
    """A checkpoint does not fit the architecture: a missing, unused or misshapen tensor."""


def torch_name(layer_name: str, prefix: str) -> str:
    """The PyTorch module path of a Keras layer (``"encoder-4-conv-0"`` -> ``"4.conv.0"``)."""
    return layer_name[len(prefix) + 1:].replace("-", ".")


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; float16 checkpoints are upcast by numpy below
        value = value.detach().cpu().float().numpy() if str(value.dtype) == "torch.bfloat16" else value.detach().cpu().numpy()
    return np.asarray(value)


def expected_tensors(network) -> dict[str, tuple[int, ...]]:
    """PyTorch parameter name -> PyTorch shape that ``network`` (an encoder or decoder) needs."""
    out = {}
    for layer, keras_shape, suffix in _slots(network):
        out[f"{torch_name(layer.name, network.name)}.{suffix}"] = _torch_shape(keras_shape, suffix, layer)
    return out


def _torch_shape(keras_shape, suffix: str, layer) -> tuple[int, ...]:
    if suffix == "weight" and len(keras_shape) == 4:
        kh, kw, cin, cout = keras_shape
        return (cout, cin, kh, kw)
    return tuple(keras_shape)


def _slots(network):
    """(layer, Keras variable shape, PyTorch suffix) for every variable of ``network``, in layer order."""
    for layer in network.layers:
        for variable, suffix in zip(layer.weights, ("weight", "bias"), strict=False):
            yield layer, tuple(variable.shape), suffix


def load_state_dict(network, state_dict: Mapping[str, object], source: str = "state_dict") -> None:
    """Copy a PyTorch ``state_dict`` into ``network`` (``model.encoder_network`` or ``model.decoder``).

    Args:
        network: The Keras encoder or decoder of a :class:`zoo.families.tae.TinyAutoencoder`.
        state_dict: Parameter name -> tensor or array, as ``torch.load`` returns it.
        source: What to call the checkpoint in messages (its path).

    Raises:
        ConversionError: A tensor the network needs is missing, one is left over, or a shape
            differs; ``network`` is unchanged.
    """
    expected = expected_tensors(network)
    given = {str(k): _as_numpy(v) for k, v in state_dict.items()}
    missing = [k for k in expected if k not in given]
    unused = [k for k in given if k not in expected]
    if missing or unused:
        what = (f"missing {len(missing)} tensor(s), first {missing[0]!r}" if missing else "")
        what += ("; " if missing and unused else "") + (
            f"{len(unused)} unused tensor(s), first {unused[0]!r}" if unused else "")
        raise ConversionError(f"{source} does not fit the {network.name} of this variant: {what}. "
                              + "Is it the right variant and part (encoder or decoder)?")
    for key, shape in expected.items():
        if tuple(given[key].shape) != shape:
            raise ConversionError(f"{source}: tensor {key!r} has shape {tuple(given[key].shape)}, "
                                  + f"expected {shape}. Is it the right variant?")
    values: dict[str, list[np.ndarray]] = {}
    for layer, _shape, suffix in _slots(network):
        array = given[f"{torch_name(layer.name, network.name)}.{suffix}"]
        if array.ndim == 4:
            array = array.transpose(2, 3, 1, 0)
        values.setdefault(layer.name, []).append(array)
    for layer in network.layers:
        if layer.name in values:
            layer.set_weights([v.astype(w.dtype) for v, w in zip(values[layer.name], layer.weights, strict=True)])


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``.pth`` state_dict with ``torch.load(weights_only=True)``; a damaged file says so in one line."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dev dependency
        raise ImportError("Reading a .pth checkpoint needs PyTorch: pip install torch") from None
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"No checkpoint at {path}.") from None
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged zip/pickle
        detail = " ".join(str(err).split())[:200]
        raise ConversionError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt): {detail}") from None
    if not isinstance(state, Mapping) or not all(hasattr(v, "shape") for v in state.values()):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not a state_dict of tensors.")
    return {k: _as_numpy(v) for k, v in state.items()}


def detect_variant(filename: str | os.PathLike) -> str:
    """The variant a checkpoint file name names (``taef2_encoder.pth`` -> ``"taef2"``)."""
    from zoo.registry import unknown_name_error

    stem = os.path.basename(os.fspath(filename)).split("_")[0].split(".")[0].lower()
    if stem not in VARIANTS:
        raise unknown_name_error("Tiny AutoEncoder variant", stem, sorted(VARIANTS))
    return stem
