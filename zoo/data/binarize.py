"""Binarised MNIST as the likelihood literature uses it: pixels drawn as Bernoulli samples of their intensity.

Two protocols, both seeded:

* **dynamic** (training): every time an example is used, each pixel is redrawn
  as ``1`` with probability equal to its intensity in [0, 1] (Salakhutdinov &
  Murray, 2008; Burda et al., 2016). :func:`bernoulli` does it inside a model's
  loss with ``keras.random``, so ``aezoo train`` on ``mnist`` sees a fresh draw
  at every step (so every epoch), fixed by the model's seed.
* **static** (evaluation): the test split binarised once, by :func:`binarize`
  with :data:`TEST_SEED` (numpy's PCG64), so every model is scored on the same
  10,000 binary images.

The "statically binarised MNIST" of Larochelle & Murray (2011), on which many
papers report, is a file that is not available offline here; the static split
above is a seeded draw of the same kind, not that file, so figures compare with
the literature's within the sampling spread of the binarisation (see
``docs/generative.md``).
"""

from __future__ import annotations

import numpy as np

from zoo.data.images import scale_pixels

#: Seed of the fixed binarisation of a test split (the evaluation protocol).
TEST_SEED = 0

#: One line on the protocol, as cards and reports record it.
PROTOCOL = (f"test split binarised once by Bernoulli sampling of x / 255 (numpy PCG64, seed {TEST_SEED}); "
            + "training on dynamically binarised images (a fresh Bernoulli draw per step)")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return scale_pixels(x)
    x = x.astype(np.float32)
    if x.size and (not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0):
        raise ValueError("binarize needs intensities in [0, 1] (or uint8 pixels). "
                         + f"Received: values in [{np.nanmin(x):.4g}, {np.nanmax(x):.4g}]")
    return x


def binarize(x: np.ndarray, seed: int | None = TEST_SEED) -> np.ndarray:
    """A Bernoulli sample of ``x``: each pixel is 1 with probability equal to its intensity.

    Binary inputs come back unchanged; the same seed always gives the same images.

    Args:
        x: Images as uint8 pixels or floats in [0, 1], any shape.
        seed: Seed of numpy's ``default_rng`` (None: fresh entropy).

    Returns:
        float32 array of 0s and 1s shaped like ``x``.

    Raises:
        ValueError: For float values outside [0, 1].

    Example:
        >>> x_test_bin = binarize(x_test)          # the fixed evaluation split
    """
    x = _unit(x)
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


def bernoulli(x, seed):
    """:func:`binarize` inside a model: a ``keras.random`` draw, differentiable nowhere, on any backend.

    Args:
        x: A tensor of intensities in [0, 1].
        seed: A ``keras.random.SeedGenerator`` (or an int).

    Returns:
        A tensor of 0s and 1s with ``x``'s shape and dtype.
    """
    import keras
    from keras import ops

    u = keras.random.uniform(ops.shape(x), dtype=x.dtype, seed=seed)
    return ops.cast(ops.less(u, x), x.dtype)
