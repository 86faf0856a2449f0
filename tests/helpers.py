"""Shared test helpers: tiny models and structured tiny data."""

from __future__ import annotations

import numpy as np

import zoo
from zoo.registry import builder_arguments

TINY_SHAPE = (16, 16, 1)


def tiny_kwargs(name: str, input_shape=TINY_SHAPE, latent_dim: int = 4) -> dict:
    """Arguments that make any registered model small and fast."""
    args = builder_arguments(name)
    kwargs = {"input_shape": input_shape, "latent_dim": latent_dim}
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
    return img.reshape((n, *shape)).astype("float32")
