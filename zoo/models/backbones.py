"""Encoder trunks and decoders for flat vectors (dense) and images (conv).

A trunk maps an input tensor to features; the recipe puts a code head on top.
A decoder is a ``keras.Model`` from a code vector back to the input's shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from zoo.utils.checks import check_int_tuple


def dense_trunk(x, input_shape: Sequence[int], hidden_units: Sequence[int] = (512, 256)):
    """Flatten, then one ReLU ``Dense`` layer per entry of ``hidden_units``."""
    units = check_int_tuple("hidden_units", hidden_units)
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    for i, n in enumerate(units):
        x = layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
    return x


def dense_decoder(
    latent_dim: int,
    output_shape: Sequence[int],
    output_activation: str,
    hidden_units: Sequence[int] = (512, 256),
) -> keras.Model:
    """Mirror of :func:`dense_trunk`: ReLU layers in reverse, then the output layer."""
    units = check_int_tuple("hidden_units", hidden_units)
    z = keras.Input(shape=(latent_dim,), name="code")
    x = z
    for i, n in enumerate(reversed(units)):
        x = layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
    x = layers.Dense(math.prod(output_shape), activation=output_activation, name="output")(x)
    if len(output_shape) > 1:
        x = layers.Reshape(tuple(output_shape), name="reshape")(x)
    return keras.Model(z, x, name="decoder")


def check_conv_input(input_shape: Sequence[int], filters: Sequence[int]) -> tuple[int, int, int]:
    """Return ``(height, width, channels)`` if the conv backbone can take ``input_shape``.

    Raises:
        ValueError: If the shape is not an image or its sides do not divide by
            the downsampling factor ``2 ** len(filters)``.
    """
    if len(input_shape) not in (2, 3):
        raise ValueError(
            "The conv backbone needs image inputs (height, width[, channels]). "
            + f"Received: input_shape={tuple(input_shape)}"
        )
    h, w = input_shape[:2]
    c = input_shape[2] if len(input_shape) == 3 else 1
    factor = 2 ** len(filters)
    if h % factor or w % factor:
        raise ValueError(
            f"The conv backbone with {len(filters)} stride-2 layers needs height and width "
            + f"divisible by {factor}. Received: input_shape={tuple(input_shape)}"
        )
    return h, w, c


def conv_trunk(x, input_shape: Sequence[int], filters: Sequence[int] = (32, 64)):
    """Stride-2 3×3 ReLU convolutions, one per entry of ``filters``, then flatten."""
    filters = check_int_tuple("filters", filters, allow_empty=False)
    h, w, c = check_conv_input(input_shape, filters)
    if len(input_shape) == 2:
        x = layers.Reshape((h, w, 1), name="add_channel")(x)
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(x)
    return layers.Flatten(name="flatten")(x)


def conv_decoder(
    latent_dim: int,
    output_shape: Sequence[int],
    output_activation: str,
    filters: Sequence[int] = (32, 64),
) -> keras.Model:
    """Mirror of :func:`conv_trunk` with stride-2 transposed convolutions."""
    filters = check_int_tuple("filters", filters, allow_empty=False)
    h, w, c = check_conv_input(output_shape, filters)
    factor = 2 ** len(filters)
    z = keras.Input(shape=(latent_dim,), name="code")
    x = layers.Dense((h // factor) * (w // factor) * filters[-1], activation="relu", name="project")(z)
    x = layers.Reshape((h // factor, w // factor, filters[-1]), name="unflatten")(x)
    # Each transposed conv outputs the channel count of the encoder stage it mirrors,
    # which halves the decoder's cost compared with repeating the widest stage.
    widths = list(reversed(filters))[1:] + [filters[0]]
    for i, f in enumerate(widths):
        x = layers.Conv2DTranspose(
            f, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}"
        )(x)
    x = layers.Conv2D(c, 3, padding="same", activation=output_activation, name="output")(x)
    if len(output_shape) == 2:
        x = layers.Reshape(tuple(output_shape), name="drop_channel")(x)
    return keras.Model(z, x, name="decoder")


#: arch name -> (trunk, decoder)
BACKBONES = {
    "dense": (dense_trunk, dense_decoder),
    "conv": (conv_trunk, conv_decoder),
}
