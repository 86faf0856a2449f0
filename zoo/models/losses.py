"""Loss maths of every family, in one place.

All functions return per-example values (shape ``(batch,)``) unless stated, so
callers choose the reduction and sample weights compose naturally.
"""

from __future__ import annotations

from keras import ops

from zoo.models.backend import jacobian_frobenius_sq  # noqa: F401  (one per backend; re-exported here)

#: Clipping epsilon of every log in the losses and penalties (Keras' own default).
EPSILON = 1e-7

RECONSTRUCTIONS = ("bce", "mse")


def _flatten(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def pixel_error(x, x_hat, kind: str = "bce"):
    """Elementwise reconstruction error, same shape as ``x_hat`` (the map anomaly scores show).

    Args:
        x: Targets; for ``"bce"`` they must lie in [0, 1].
        x_hat: Reconstructions of the same shape (probabilities for ``"bce"``).
        kind: ``"bce"`` (binary cross-entropy) or ``"mse"`` (squared error).

    Returns:
        A tensor shaped like ``x_hat``.
    """
    x = ops.cast(x, x_hat.dtype)
    if kind == "bce":
        p = ops.clip(x_hat, EPSILON, 1.0 - EPSILON)
        return -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
    if kind == "mse":
        return ops.square(x - x_hat)
    raise ValueError(f"`kind` must be one of {RECONSTRUCTIONS}. Received: kind={kind!r}")


def reconstruction_error(x, x_hat, kind: str = "bce", reduction: str = "mean"):
    """Per-example reconstruction error.

    Args:
        x: Targets, shape ``(batch, ...)``; for ``"bce"`` they must lie in [0, 1].
        x_hat: Reconstructions of the same shape (probabilities for ``"bce"``).
        kind: ``"bce"`` (binary cross-entropy) or ``"mse"`` (squared error).
        reduction: ``"mean"`` averages over the features of an example (per
            pixel, as Keras reports it); ``"sum"`` sums them (nats per image,
            as an ELBO needs).

    Returns:
        A ``(batch,)`` tensor.
    """
    err = _flatten(pixel_error(x, x_hat, kind))
    return ops.sum(err, axis=1) if reduction == "sum" else ops.mean(err, axis=1)


def gaussian_kl(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over latent units.

    Closed form: ``0.5 * sum(exp(log_var) + mean² - 1 - log_var)``.
    """
    return 0.5 * ops.sum(ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=-1)
