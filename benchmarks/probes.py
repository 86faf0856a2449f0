"""The roofline's two numbers, measured through a Keras backend's own framework: matmul peak and copy bandwidth.

* Peak: ``n x n`` matmuls per precision: ``float32`` (full float32 arithmetic),
  ``tf32`` (float32 storage, TensorFloat-32 tensor cores; GPUs only) and
  ``bfloat16``; ``2 n^3 / time`` in GFLOP/s, the best over sizes.
* Bandwidth: a large device-to-device copy (``torch.Tensor.copy_``; ``x + 1``
  under ``jax.jit`` or ``tf.function``, which read and write the same bytes);
  ``2 * bytes / time`` in GB/s.

Nothing here needs TensorFlow unless TensorFlow is the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.backends import torch_device

#: Probed precisions; tf32 only where a GPU has it.
PROBE_PRECISIONS = ("float32", "tf32", "bfloat16")


def _torch_matmul(n: int, precision: str, device: str) -> Callable[[], object]:
    import torch

    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    gen = torch.Generator(device=torch_device(device)).manual_seed(0)
    a, b = (torch.rand((n, n), device=torch_device(device), generator=gen).to(dtype) for _ in range(2))

    def call():
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        out = a @ b
        if device == "gpu":
            torch.cuda.synchronize()
        torch.backends.cuda.matmul.allow_tf32 = False
        return out

    return call


def _jax_matmul(n: int, precision: str) -> Callable[[], object]:
    import jax
    import jax.numpy as jnp

    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    a, b = (jax.random.uniform(jax.random.key(i), (n, n)).astype(dtype) for i in range(2))
    level = {"float32": "highest", "tf32": "tensorfloat32", "bfloat16": "default"}[precision]
    with jax.default_matmul_precision(level):
        fn = jax.jit(lambda x, y: x @ y)
        fn(a, b).block_until_ready()
    return lambda: fn(a, b).block_until_ready()


def _tf_matmul(n: int, precision: str, device: str) -> Callable[[], object]:
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        a = tf.cast(tf.random.stateless_uniform((n, n), seed=(1, 2)), dtype)
        b = tf.cast(tf.random.stateless_uniform((n, n), seed=(3, 4)), dtype)
        fn = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
        return lambda: fn().numpy()


def matmul_call(backend: str, n: int, precision: str, device: str) -> Callable[[], object]:
    """A call that multiplies two resident ``n x n`` matrices in ``precision`` and waits for the result."""
    if backend == "torch":
        return _torch_matmul(n, precision, device)
    if backend == "jax":
        return _jax_matmul(n, precision)
    return _tf_matmul(n, precision, device)


def copy_call(backend: str, mb: int, device: str) -> Callable[[], object]:
    """A call that reads and writes a resident ``mb``-MiB float32 buffer once and waits."""
    n = mb * 2**20 // 4
    if backend == "torch":
        import torch

        src = torch.ones(n, device=torch_device(device))
        dst = torch.empty_like(src)

        def call():
            dst.copy_(src)
            if device == "gpu":
                torch.cuda.synchronize()

        return call
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        x = jnp.ones(n, jnp.float32)
        fn = jax.jit(lambda v: v + 1.0)
        return lambda: fn(x).block_until_ready()
    import tensorflow as tf

    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        x = tf.ones(n)
        fn = tf.function(lambda: x + 1.0)
        return lambda: fn()


def probe(backend: str, device: str, precisions: Sequence[str], sizes: Sequence[int], copy_mb: int,
          min_seconds: float = 0.3) -> list[dict]:
    """Measurements of this backend: one per precision and size, and one copy.

    Returns:
        Dicts with ``kind`` (``matmul`` or ``copy``), ``precision``, ``size``, ``times`` (seconds per call),
        ``work`` (FLOPs or bytes per call).
    """
    from zoo.utils.timing import time_calls

    out = []
    for precision in precisions:
        if precision == "tf32" and device != "gpu":
            continue  # a CPU has no TensorFloat-32: float32 it would be
        for n in sizes:
            times = time_calls(matmul_call(backend, n, precision, device), warmup=2, min_iters=3, max_iters=100,
                               min_seconds=min_seconds)
            out.append({"kind": "matmul", "precision": precision, "size": n, "times": times, "work": 2 * n**3})
    times = time_calls(copy_call(backend, copy_mb, device), warmup=2, min_iters=5, max_iters=200,
                       min_seconds=min_seconds)
    out.append({"kind": "copy", "precision": "float32", "size": copy_mb, "times": times,
                "work": 2 * copy_mb * 2**20})
    return out
