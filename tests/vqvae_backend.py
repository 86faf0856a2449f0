"""Run under one Keras backend: the vector quantiser's gradients, EMA step and sampling against numpy.

    KERAS_BACKEND=jax python -m tests.vqvae_backend OUT.json

Each check is "ok" or what differed; tests/test_vqvae.py runs it under every backend. The
references are numpy formulas written out here (nothing is computed by the code under test).
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path

import keras
import numpy as np
from keras import ops

from zoo.models.quantize import VectorQuantizer

K, D, BETA = 6, 3, 0.4


def case(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encoder outputs ``(2, 3, 3, D)``, a codebook ``(K, D)`` and the nearest codes' indices (numpy)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 3, D))
    codebook = rng.normal(size=(K, D))
    indices = ((x[..., None, :] - codebook) ** 2).sum(-1).argmin(-1)
    return x.astype(np.float32), codebook.astype(np.float32), indices


def head_with(codebook: np.ndarray, **kwargs) -> VectorQuantizer:
    head = VectorQuantizer(K, beta=BETA, embedding_dim=D, **kwargs)
    head.build((None, 3, 3, D))
    head.codebook.assign(codebook)
    return head


def expected_gradients(x, codebook, indices, w):
    """Gradients of ``sum(w * out²) + losses`` with ``out`` the straight-through code, by hand.

    The value of ``out`` is ``q = codebook[indices]`` and its gradient passes to ``x`` unchanged, so
    ``d/dx = 2 w q + 2 β (x - q) / n`` (the commitment term, ``n`` = every element) and the codebook
    only gets the codebook loss's ``-2 (x_i - e_k) / n`` summed over the vectors assigned to ``k``.
    """
    q = codebook[indices]
    n = x.size
    gx = 2 * w * q + 2 * BETA * (x - q) / n
    ge = np.zeros_like(codebook, dtype=np.float64)
    np.add.at(ge, indices.ravel(), (-2 * (x - q) / n).reshape(-1, D))
    return gx, ge


def gradients(head: VectorQuantizer, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``d/dx`` and ``d/dcodebook`` of ``sum(w * head(x)²) + head's losses`` in training, on this backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = head(xt, training=True)
            total = tf.reduce_sum(w * out**2) + tf.add_n(head.losses)
        gx, ge = tape.gradient(total, [xt, head.codebook.value])
        return np.asarray(gx), np.asarray(tf.convert_to_tensor(ge))  # a gather's gradient is IndexedSlices
    if backend == "jax":
        import jax

        def total(xv, cb):
            out, _, losses = head.stateless_call([cb], [v.value for v in head.non_trainable_variables], xv,
                                                 training=True, return_losses=True)
            return (w * out**2).sum() + sum(losses)

        gx, ge = jax.grad(total, argnums=(0, 1))(jax.numpy.asarray(x), head.codebook.value)
        return np.asarray(gx), np.asarray(ge)
    import torch

    xt = torch.tensor(x, requires_grad=True)
    out = head(xt, training=True)
    total = (torch.tensor(w) * out**2).sum() + sum(head.losses)
    gx, ge = torch.autograd.grad(total, [xt, head.codebook.value])
    return gx.numpy(), ge.numpy()


def check_straight_through() -> str:
    x, codebook, indices = case(1)
    w = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    gx, ge = gradients(head_with(codebook, ema=False), x, w)
    want_x, want_e = expected_gradients(x.astype(np.float64), codebook.astype(np.float64), indices, w)
    if not np.allclose(gx, want_x, atol=1e-5):
        return f"d/dx differs by {np.abs(gx - want_x).max():.2e}"
    if not np.allclose(ge, want_e, atol=1e-6):
        return f"d/dcodebook differs by {np.abs(ge - want_e).max():.2e}"
    return "ok"


def check_ema_step() -> str:
    decay, eps = 0.8, 0.05
    x, codebook, indices = case(3)
    rng = np.random.default_rng(4)
    sizes, sums = rng.uniform(0.5, 3.0, K).astype(np.float32), rng.normal(size=(K, D)).astype(np.float32)
    head = head_with(codebook, ema=True, decay=decay, epsilon=eps)
    head.cluster_size.assign(sizes)
    head.embed_sum.assign(sums)
    out = ops.convert_to_numpy(head(x, training=True))
    # By hand: counts and sums of the assigned vectors, the moving averages, the smoothed counts.
    flat, idx = x.reshape(-1, D).astype(np.float64), indices.ravel()
    counts = np.array([np.sum(idx == k) for k in range(K)], dtype=np.float64)
    assigned = np.array([flat[idx == k].sum(0) for k in range(K)])
    new_sizes = decay * sizes + (1 - decay) * counts
    new_sums = decay * sums + (1 - decay) * assigned
    total = new_sizes.sum()
    new_codebook = new_sums / ((new_sizes + eps) / (total + K * eps) * total)[:, None]
    got = {name: ops.convert_to_numpy(v) for name, v in
           (("cluster_size", head.cluster_size), ("embed_sum", head.embed_sum), ("codebook", head.codebook))}
    for name, want in (("cluster_size", new_sizes), ("embed_sum", new_sums), ("codebook", new_codebook)):
        if not np.allclose(got[name], want, rtol=1e-5, atol=1e-6):
            return f"{name} differs by {np.abs(got[name] - want).max():.2e}"
    if not np.allclose(out, codebook[indices], atol=1e-6):  # the step quantises with the codebook before it
        return "the training output is not the nearest (pre-update) codes"
    inference = ops.convert_to_numpy(head(x, training=False))
    if not np.array_equal(ops.convert_to_numpy(head.codebook), got["codebook"]):
        return "an inference call changed the codebook"
    nearest = ((x[..., None, :] - new_codebook) ** 2).sum(-1).argmin(-1)
    if not np.allclose(inference, new_codebook[nearest], atol=1e-5):
        return "inference does not use the updated codebook"
    return "ok"


def check_restart() -> str:
    x, codebook, indices = case(5)
    decay, threshold = 0.5, 2.0
    sizes = np.array([9.0, 0.1, 9.0, 0.1, 9.0, 0.1], np.float32)
    head = head_with(codebook, ema=True, decay=decay, restart_threshold=threshold, seed=3)
    head.cluster_size.assign(sizes)
    head(x, training=True)
    counts = np.bincount(indices.ravel(), minlength=K)
    dead = decay * sizes + (1 - decay) * counts < threshold  # by hand: the moving counts after this batch
    if dead.all() or not dead.any():
        return f"the case must have dead and live codes; dead={dead.tolist()}"
    got_sizes, book = ops.convert_to_numpy(head.cluster_size), ops.convert_to_numpy(head.codebook)
    flat = x.reshape(-1, D)
    for k in range(K):
        at_a_vector = bool(np.any(np.all(np.isclose(flat, book[k], atol=1e-6), axis=1)))
        if dead[k] and not (at_a_vector and got_sizes[k] == 1.0):
            return f"dead code {k} did not restart at a batch vector with count 1 (count {got_sizes[k]:.3f})"
        if not dead[k] and (at_a_vector or got_sizes[k] == 1.0):
            return f"live code {k} was restarted"
    return "ok"


def check_sampling() -> str:
    import zoo

    model = zoo.create_model("vqvae_conv", input_shape=(16, 16, 1), latent_dim=4, filters=(4, 8),
                             codebook_size=8, seed=7)
    first, again, other = model.sample(3, seed=11), model.sample(3, seed=11), model.sample(3, seed=12)
    if not np.array_equal(first, again) or np.array_equal(first, other) or first.shape != (3, 16, 16, 1):
        return "sample(seed=) is not deterministic, or ignores the seed"
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m.keras")
        loaded = keras.models.load_model(Path(tmp) / "m.keras")
        if not np.array_equal(loaded.sample(3, seed=11), first):
            return "the reloaded model samples differently"
    return "ok"


CHECKS = {"straight_through": check_straight_through, "ema_step": check_ema_step, "restart": check_restart,
          "sampling": check_sampling}


def main(output: str) -> int:
    results = {"backend": keras.backend.backend()}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception:  # noqa: BLE001 - every failure is reported, not raised
            results[name] = traceback.format_exc(limit=4)
    Path(output).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
