"""What truly differs per Keras backend, in one place: one branch per backend, chosen at call time.

Everything else in ``zoo`` is written with ``keras.ops`` and runs unchanged on
TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def name() -> str:
    """The active Keras backend."""
    return keras.backend.backend()


def jacobian_frobenius_sq(fn: Callable, x):
    """Squared Frobenius norm of ``d fn(x_i) / d x_i`` for each example.

    Exact for any differentiable ``fn`` that maps examples independently (no
    batch statistics): it builds each example's full Jacobian with automatic
    differentiation and stays differentiable, so it can be trained through.
    TensorFlow uses ``GradientTape.batch_jacobian``, JAX ``vmap(jacrev)``, and
    PyTorch the Jacobian of the batch sum (row ``i`` of ``d sum_j f(x_j) / d x``
    is ``J_f(x_i)`` because examples are independent), with a graph kept for training.

    Args:
        fn: A function from a batch ``(batch, ...)`` to codes ``(batch, k)``.
        x: The input batch.

    Returns:
        A ``(batch,)`` tensor of ``||J_f(x_i)||_F²``.
    """
    return _JACOBIANS[name()](fn, x)


def _jacobian_tensorflow(fn, x):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = fn(x)
    jac = tape.batch_jacobian(z, x)
    return tf.reduce_sum(tf.reshape(tf.square(jac), (tf.shape(jac)[0], -1)), axis=1)


def _jacobian_jax(fn, x):
    import jax
    import jax.numpy as jnp

    jac = jax.vmap(jax.jacrev(lambda xi: fn(xi[None])[0]))(x)
    return jnp.sum(jnp.reshape(jnp.square(jac), (jac.shape[0], -1)), axis=1)


def _jacobian_torch(fn, x):
    import torch

    x = torch.as_tensor(x)
    jac = torch.autograd.functional.jacobian(lambda t: fn(t).sum(0), x, create_graph=True, vectorize=True)
    # jac: (k, batch, *example_shape) -> per-example sums over k and the example's features.
    return torch.square(jac).transpose(0, 1).reshape(x.shape[0], -1).sum(dim=1)


_JACOBIANS = {"tensorflow": _jacobian_tensorflow, "jax": _jacobian_jax, "torch": _jacobian_torch}


def computes_on_cpu() -> bool:
    """Whether the active backend runs models on the CPU (no accelerator visible to it)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_physical_devices("GPU")
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    import torch

    return not torch.cuda.is_available()
