"""Loss maths of every family, in one place.

All functions return per-example values (shape ``(batch,)``) unless stated, so
callers choose the reduction and sample weights compose naturally.
"""

from __future__ import annotations

from collections.abc import Callable

from keras import ops

#: Clipping epsilon of every log in the losses and penalties (Keras' own default).
EPSILON = 1e-7

RECONSTRUCTIONS = ("bce", "mse")


def _flatten(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


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
    x = _flatten(ops.cast(x, x_hat.dtype))
    x_hat = _flatten(x_hat)
    if kind == "bce":
        p = ops.clip(x_hat, EPSILON, 1.0 - EPSILON)
        err = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
    elif kind == "mse":
        err = ops.square(x - x_hat)
    else:
        raise ValueError(f"`kind` must be one of {RECONSTRUCTIONS}. Received: kind={kind!r}")
    return ops.sum(err, axis=1) if reduction == "sum" else ops.mean(err, axis=1)


def gaussian_kl(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over latent units.

    Closed form: ``0.5 * sum(exp(log_var) + mean² - 1 - log_var)``.
    """
    return 0.5 * ops.sum(ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=-1)


def jacobian_frobenius_sq(fn: Callable, x):
    """Squared Frobenius norm of ``d fn(x_i) / d x_i`` for each example.

    Exact for any differentiable ``fn`` that maps examples independently (no
    batch statistics): it builds each example's full Jacobian with automatic
    differentiation and stays differentiable, so it can be trained through.

    Args:
        fn: A function from a batch ``(batch, ...)`` to codes ``(batch, k)``.
        x: The input batch.

    Returns:
        A ``(batch,)`` tensor of ``||J_f(x_i)||_F²``.
    """
    import keras

    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        jac = jax.vmap(jax.jacrev(lambda xi: fn(xi[None])[0]))(x)
        return jnp.sum(jnp.reshape(jnp.square(jac), (jac.shape[0], -1)), axis=1)
    import tensorflow as tf  # Other backends: a TensorFlow tape.

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = fn(x)
    jac = tape.batch_jacobian(z, x)
    return tf.reduce_sum(tf.reshape(tf.square(jac), (tf.shape(jac)[0], -1)), axis=1)
