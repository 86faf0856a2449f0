"""FLOPs per sample of a Keras model, counted from its layers (a multiply-add is 2 FLOPs).

Only the layers that do dense arithmetic are counted (``Dense``, ``Conv2D``,
``Conv2DTranspose``); activations, biases and reshapes are left out, which is
the usual convention for roofline figures. Training is counted as 3x the
forward pass (forward, gradient w.r.t. activations, gradient w.r.t. weights).
"""

from __future__ import annotations

import math

import keras

TRAINING_FACTOR = 3


def _shape(tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape[1:])


def layer_flops(layer: keras.layers.Layer) -> int:
    """Forward FLOPs of one layer for one example (0 for layers without dense arithmetic)."""
    if isinstance(layer, keras.Model):
        return model_flops(layer)
    if isinstance(layer, keras.layers.Dense):
        fan_in = _shape(layer.input)[-1]
        return 2 * math.prod(_shape(layer.input)[:-1]) * fan_in * layer.units
    if isinstance(layer, keras.layers.Conv2DTranspose):
        h, w, c_in = _shape(layer.input)
        kh, kw = layer.kernel_size
        return 2 * h * w * kh * kw * c_in * layer.filters  # every input pixel scatters one kernel
    if isinstance(layer, keras.layers.Conv2D):
        h, w, _ = _shape(layer.output)
        c_in = _shape(layer.input)[-1]
        kh, kw = layer.kernel_size
        return 2 * h * w * kh * kw * c_in * layer.filters // layer.groups
    return 0


def model_flops(model: keras.Model) -> int:
    """Forward FLOPs per example of a functional model, nested models included."""
    return sum(layer_flops(layer) for layer in model.layers)


def part_flops(model, part: str) -> int:
    """Forward FLOPs per example of an autoencoder part (``encoder``, ``decoder`` or ``autoencoder``).

    The part is the deterministic graph of ``model.get_part`` (a VAE's encoder is its mean).
    """
    return model_flops(model.get_part(part))


def training_flops(model) -> int:
    """Training FLOPs per example: 3x the forward pass of every component (a VAE's posterior heads too)."""
    return TRAINING_FACTOR * sum(model_flops(component) for component in model.components.values())


def _activation_values(model: keras.Model) -> int:
    """Values per example written by a functional model's layers (its inputs included), nested models expanded."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += _activation_values(layer)
        elif not isinstance(layer, keras.layers.InputLayer) or layer is model.layers[0]:
            total += sum(math.prod(_shape(t)) for t in keras.tree.flatten(layer.output))
    return total


def part_bytes(model, part: str, batch_size: int, dtype_bytes: int = 4, training: bool = False) -> float:
    """Estimated device-memory traffic per example of ``part``: the denominator of arithmetic intensity.

    Every layer output is written once and read once (three times as much in
    training: the backward pass reads activations and writes their gradients),
    and the weights are read once per batch (in training, weights, gradients and
    Adam's two moments are each read and written: 8x). A lower bound: real
    kernels may spill more, fused ones less.

    Args:
        model: An aezoo autoencoder.
        part: ``encoder``, ``decoder`` or ``autoencoder``.
        batch_size: Examples sharing one read of the weights.
        dtype_bytes: Bytes per value (4 for float32).
        training: Training traffic (the whole model, every component) instead of one forward pass.

    Returns:
        Bytes per example.
    """
    graphs = list(model.components.values()) if training else [model.get_part(part)]
    values = sum(_activation_values(g) for g in graphs)
    params = sum(g.count_params() for g in graphs)
    return dtype_bytes * (2 * values * (3 if training else 1) + params * (8 if training else 1) / batch_size)
