"""What truly differs per Keras backend, in one place: one branch per backend, chosen at call time.

Everything else in ``zoo`` is written with ``keras.ops`` and runs unchanged on
TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import threading
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


# ---- data parallelism: what a model's objective needs to stay global -------------------------
# Under tf.distribute each replica runs the step on its shard of the global batch, so a batch
# statistic must be combined across replicas explicitly (ReplicaContext.all_reduce/all_gather, whose
# gradients TensorFlow defines). Under JAX's keras.distribution.DataParallel the step is one SPMD
# program over the global batch, so every batch statistic is already global; PyTorch has no engine here.

def in_tf_strategy() -> bool:
    """Whether a ``tf.distribute`` strategy over several replicas is in scope (TensorFlow backend)."""
    if name() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1


def _replica_context():
    """TensorFlow's replica context when a step runs on several replicas, else None."""
    if name() != "tensorflow":
        return None
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    return ctx if ctx is not None and ctx.num_replicas_in_sync > 1 else None


def replica_id() -> int:
    """This replica's index in the step (0 outside a multi-replica ``tf.distribute`` step).

    A tensor under ``tf.distribute``; callers only add it to integers.
    """
    ctx = _replica_context()
    return 0 if ctx is None else ctx.replica_id_in_sync_group


def cross_replica_sum(value):
    """``value`` summed over the replicas of a ``tf.distribute`` step (itself elsewhere)."""
    ctx = _replica_context()
    return value if ctx is None else ctx.all_reduce("SUM", value)


def cross_replica_concat(value):
    """``value`` concatenated over the replicas along axis 0 (itself outside a ``tf.distribute`` step)."""
    ctx = _replica_context()
    return value if ctx is None else ctx.all_gather(value, axis=0)


def global_batch_mean(values):
    """Mean over the *global* batch (axis 0) of ``values``, whichever replica holds which examples.

    The sum of each shard and its example count are summed across replicas, so the
    result is exact even when the last batch splits unevenly. Differentiable.
    """
    from keras import ops

    total = cross_replica_sum(ops.sum(values, axis=0))
    count = cross_replica_sum(ops.cast(ops.shape(values)[0], values.dtype))
    return total / count


def global_batch_fraction(batch_values):
    """This shard's share of the global batch, ``n_local / n_global`` (1.0 on one device).

    A per-replica loss times this share, summed over replicas (as ``tf.distribute``
    sums gradients), is the loss on the global batch.
    """
    from keras import ops

    local = ops.cast(ops.shape(batch_values)[0], "float32")
    return local / cross_replica_sum(local)


def for_multi_worker_reduction(results: dict) -> dict:
    """A train step's metric results, shaped so Keras' multi-worker reduction accepts them.

    Keras 3's TensorFlow trainer reduces them across workers with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on scalars ("Invalid
    reduction dimension 0 for input with 0 dimensions"); as ``(1,)`` tensors the
    same call averages them over the replicas into scalars. Unchanged elsewhere.
    """
    ctx = _replica_context()
    if ctx is None:
        return results
    import tensorflow as tf

    if not isinstance(ctx.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return results
    return {k: tf.reshape(v, (1,)) if getattr(v, "shape", None) == () else v for k, v in results.items()}


def tag_replica(loss):
    """Mark an ``add_loss`` term with the replica (thread) that computed it; returns ``loss``.

    ``MirroredStrategy`` runs its replicas as threads over the same layer objects, and
    Keras keeps a layer's ``add_loss`` terms in one list, so a replica can find another
    replica's terms there (when a cross-replica op pauses it mid-call). Those add nothing
    to its gradients (tapes are per thread) but would count in its reported loss.
    """
    if _replica_context() is not None:
        loss._aezoo_replica_thread = threading.get_ident()
    return loss


def this_replica(losses: list) -> list:
    """The terms of ``losses`` computed by the calling replica (all of them on one device)."""
    me = threading.get_ident()
    return [v for v in losses if getattr(v, "_aezoo_replica_thread", me) == me]


@keras.saving.register_keras_serializable(package="aezoo")
class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A ``SeedGenerator`` whose draws differ per ``tf.distribute`` replica and stay reproducible.

    Replica ``r`` draws the seed a plain generator would, offset by ``r`` in its
    first component, so replica 0 (and every single-device run) is unchanged and
    the other replicas' noise is independent of it but fixed by the seed. Under
    JAX DataParallel random ops draw the global batch's noise at once (replica 0).
    """

    #: Offset between replicas' seed streams (a prime, far from the small seeds people pick).
    STRIDE = 1_000_003

    def next(self, ordered=True):
        seed = super().next(ordered)
        rid = replica_id()
        if isinstance(rid, int) and rid == 0:
            return seed
        from keras import ops

        offset = ops.cast(ops.stack([rid * self.STRIDE, 0]), seed.dtype)
        return seed + offset
