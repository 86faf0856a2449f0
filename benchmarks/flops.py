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
