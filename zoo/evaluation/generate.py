"""Generation: walks between codes (:func:`interpolate`) and pictures of samples, walks and 2-D latent maps.

Sampling itself is the model's (:meth:`zoo.Autoencoder.sample`: codes from its
head's prior, decoded; a VQ-VAE draws codebook indices). Everything here works on
numpy arrays and writes PNGs with matplotlib.
"""

from __future__ import annotations

import math
import os

import numpy as np

from zoo.utils.atomic import save_figure
from zoo.utils.checks import check_choice, check_positive_int

#: Ways to walk from one code to another.
PATHS = ("linear", "slerp")


def latent_path(z0: np.ndarray, z1: np.ndarray, steps: int, path: str = "linear") -> np.ndarray:
    """``steps`` codes from ``z0`` to ``z1`` (both ends included), on a line or a great circle.

    ``"slerp"`` (White, 2016) turns the direction at constant angular speed and
    interpolates the norm linearly, which keeps the walk in the shell where most
    of a high-dimensional Gaussian prior's mass lies; for (nearly) parallel codes
    it is the line.

    Args:
        z0: Start code, any shape.
        z1: End code, same shape.
        steps: Number of codes (>= 2).
        path: ``"linear"`` or ``"slerp"``.

    Returns:
        ``(steps, *z0.shape)`` float32 array.
    """
    steps = check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"A walk needs steps >= 2 (both ends). Received: steps={steps}")
    check_choice("path", path, PATHS)
    a, b = np.asarray(z0, np.float64).ravel(), np.asarray(z1, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"Both ends need the same shape. Received: {np.shape(z0)} and {np.shape(z1)}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    line = (1.0 - t) * a + t * b
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if path == "linear" or na == 0.0 or nb == 0.0:
        return line.reshape((steps, *np.shape(z0))).astype(np.float32)
    omega = math.acos(float(np.clip(a @ b / (na * nb), -1.0, 1.0)))
    if math.sin(omega) < 1e-6:
        return line.reshape((steps, *np.shape(z0))).astype(np.float32)
    walk = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)
    return walk.reshape((steps, *np.shape(z0))).astype(np.float32)


def _one_or_batch(model, x, what: str) -> tuple[np.ndarray, bool]:
    """``x`` as a batch for ``model``, and whether it was a single example."""
    x = np.asarray(x)
    single = x.ndim <= len(model.data_shape) and x.size == math.prod(model.data_shape)
    batch = model.prepare_input(x.reshape((1, *model.data_shape)) if single else x, what)
    return batch, single


def interpolate(model, a, b, steps: int = 8, path: str = "linear", batch_size: int = 256) -> np.ndarray:
    """Encode ``a`` and ``b``, walk between their codes (:func:`latent_path`), decode every step.

    Works for any autoencoder (its deterministic code: a VAE's posterior mean);
    generative families are the ones whose in-between images look like data.

    Args:
        model: A :class:`zoo.Autoencoder`.
        a: One example (``model.data_shape``, uint8 or in the model's input range) or a batch.
        b: Same as ``a`` (a batch of the same length).
        steps: Images per walk, both ends included (>= 2).
        path: ``"linear"`` or ``"slerp"``.
        batch_size: Encoding and decoding batch size.

    Returns:
        ``(steps, *data_shape)`` for single examples, ``(n, steps, *data_shape)`` for batches.

    Example:
        >>> strip = zoo.interpolate(model, x_test[0], x_test[1], steps=10, path="slerp")
    """
    xa, single = _one_or_batch(model, a, "interpolate (a)")
    xb, _ = _one_or_batch(model, b, "interpolate (b)")
    if len(xa) != len(xb):
        raise ValueError(f"a and b need as many examples. Received: {len(xa)} and {len(xb)}")
    za, zb = model.encode(xa, batch_size=batch_size), model.encode(xb, batch_size=batch_size)
    codes = np.concatenate([latent_path(za[i], zb[i], steps, path) for i in range(len(za))])
    images = model.decode(codes, batch_size=batch_size).reshape((len(za), steps, *model.data_shape))
    return images[0] if single else images


def tile(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Images ``(n, h, w[, c])`` as one ``(rows * (h + pad) - pad, cols * (w + pad) - pad[, c])`` mosaic.

    Empty cells and the gaps are left at 1.0 (white).
    """
    images = np.asarray(images, np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n, h, w = images.shape[:3]
    cols = min(check_positive_int("cols", cols), n)
    rows = math.ceil(n / cols)
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, *images.shape[3:]), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = image
    return out


def _save_mosaic(mosaic: np.ndarray, path: str | os.PathLike, title: str | None, scale: float = 3.0,
                 ticks: tuple | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = mosaic.shape[:2]
    fig, ax = plt.subplots(figsize=(max(2.0, scale * w / 28 * 0.35), max(1.0, scale * h / 28 * 0.35) + 0.4))
    ax.imshow(np.clip(mosaic, 0.0, 1.0), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if ticks is None:
        ax.axis("off")
    else:
        (xt, xl), (yt, yl), (xlabel, ylabel) = ticks
        ax.set_xticks(xt, xl, fontsize=6)
        ax.set_yticks(yt, yl, fontsize=6)
        ax.set_xlabel(xlabel, fontsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return str(path)


def sample_grid(model, path: str | os.PathLike, n: int = 64, seed: int | None = 0, cols: int | None = None,
                title: str | None = None) -> str:
    """Save a PNG of ``model.sample(n, seed)`` as a square-ish grid; returns the path."""
    images = model.sample(n, seed=seed)
    return _save_mosaic(tile(images, cols or math.ceil(math.sqrt(n))), path, title)


def interpolation_strip(model, a, b, path: str | os.PathLike, steps: int = 8, walk: str = "linear",
                        title: str | None = None) -> str:
    """Save a PNG with one row per pair: ``a``, the decoded walk (``steps`` images), ``b``.

    Args:
        model: A :class:`zoo.Autoencoder`.
        a: One example or a batch (one row each).
        b: Same as ``a``.
        path: Output PNG path.
        steps: Decoded images per walk, both ends included.
        walk: ``"linear"`` or ``"slerp"`` (:func:`latent_path`).
        title: Figure title.
    """
    xa, _ = _one_or_batch(model, a, "interpolate (a)")
    xb, _ = _one_or_batch(model, b, "interpolate (b)")
    walks = interpolate(model, xa, xb, steps, walk)
    rows = [np.concatenate([xa[i:i + 1], walks[i], xb[i:i + 1]]) for i in range(len(xa))]
    return _save_mosaic(tile(np.concatenate(rows), steps + 2), path, title)


def latent_map(model, path: str | os.PathLike, n: int = 15, span: float | None = None,
               title: str | None = None) -> str:
    """Save a PNG of the decoder over a ``n x n`` grid of a 2-D code space (Kingma & Welling, 2014, fig. 4).

    The grid covers the central 90% of the prior per axis (Gaussian quantiles 0.05..0.95,
    from 20,000 prior draws), or ``[-span, span]`` for a model without a prior.

    Raises:
        ValueError: If the code is not 2-D, or there is neither a prior nor ``span``.
    """
    if tuple(model.code_shape) != (2,):
        raise ValueError(f"A latent map needs a 2-D code. Received: {model.name} with code shape {model.code_shape}")
    n = check_positive_int("n", n)
    if span is None:
        prior = model.head.prior_codes(20000, (2,), np.random.default_rng(0))
        if prior is None:
            raise ValueError(f"{model.name} has no prior to place the grid in; pass span.")
        lo, hi = np.quantile(prior, [0.05, 0.95], axis=0)
    else:
        lo, hi = np.array([-span, -span], np.float64), np.array([span, span], np.float64)
    xs, ys = np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n)  # z2 grows upwards
    codes = np.array([[x, y] for y in ys for x in xs], np.float32)
    h, w = model.data_shape[:2]
    mosaic = tile(model.decode(codes), n)
    picks = [0, n // 2, n - 1]
    ticks = (([i * (w + 1) + w / 2 for i in picks], [f"{xs[i]:.2f}" for i in picks]),
             ([i * (h + 1) + h / 2 for i in picks], [f"{ys[i]:.2f}" for i in picks]), ("z 1", "z 2"))
    return _save_mosaic(mosaic, path, title, scale=min(3.0, 24.0 / n), ticks=ticks)
