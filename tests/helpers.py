"""Shared test helpers: tiny models and structured tiny data."""

from __future__ import annotations

import numpy as np

import zoo
from zoo.families import builder_arguments

TINY_SHAPE = (16, 16, 1)
#: The tiny shape of RGB families (Tiny AutoEncoders need sides divisible by 8 or 32).
TINY_RGB_SHAPE = (32, 32, 3)


def tiny_shape(name: str) -> tuple[int, int, int]:
    """The tiny input shape of a registered model: grayscale 16x16, or 32x32 RGB for RGB-only families."""
    default = builder_arguments(name).get("input_shape")
    return TINY_RGB_SHAPE if default is not None and tuple(default)[-1] == 3 else TINY_SHAPE


def tiny_kwargs(name: str, input_shape=None, latent_dim: int = 4) -> dict:
    """Arguments that make any registered model small and fast."""
    args = builder_arguments(name)
    kwargs = {"input_shape": input_shape or tiny_shape(name), "latent_dim": latent_dim}
    if "hidden_units" in args:
        kwargs["hidden_units"] = (32,)
    if "filters" in args:
        kwargs["filters"] = (4, 8)
    if "seed" in args:
        kwargs["seed"] = 7
    return kwargs


def tiny_model(name: str, **overrides) -> zoo.Autoencoder:
    return zoo.create_model(name, **{**tiny_kwargs(name), **overrides})


def blob_images(n: int = 32, shape=TINY_SHAPE, seed: int = 0) -> np.ndarray:
    """Images in [0, 1] made of one Gaussian blob each: structured, so a model can learn them."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(3, h - 3, n), rng.uniform(3, w - 3, n)
    r = rng.uniform(1.5, 3.0, n)
    img = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
                 / (2 * r[:, None, None] ** 2))
    channels = shape[-1] if len(shape) == 3 else 1
    if channels > 1:  # one colour per blob
        img = img[..., None] * rng.uniform(0.3, 1.0, (n, 1, 1, channels))
    return img.reshape((n, *shape)).astype("float32")
