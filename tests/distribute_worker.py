"""Subprocess half of tests/test_distribute.py: one device against two replicas, in a fresh process.

Logical devices must be configured before the backend initialises, so each check
runs here: ``python tests/distribute_worker.py CHECK...`` (``KERAS_BACKEND`` and,
for JAX, ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` set by the caller)
prints one JSON object (check name -> result) on its last line.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BACKEND = os.environ["KERAS_BACKEND"]
if BACKEND == "tensorflow":
    import tensorflow as tf

    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from tests.helpers import blob_images, tiny_kwargs  # noqa: E402
from zoo.data.pipeline import make_pipeline  # noqa: E402
from zoo.models.regularizers import KLSparsity  # noqa: E402
from zoo.training import distribute  # noqa: E402
from zoo.training.run import compile_options  # noqa: E402

FAMILIES = ("ae_dense", "sparse_kl_dense", "denoising_conv", "vae_dense")
GLOBAL_BATCH, N, EPOCHS = 16, 64, 1
#: One step per call and no XLA on one device either (a strategy uses neither): compiling
#: 32-step loops and XLA graphs dominated the time, and the comparison is about the objective.
STEP_OPTIONS = {"steps_per_execution": 1, "jit_compile": BACKEND == "jax"}


@contextmanager
def zero_gaussian_noise():
    """``keras.random.normal`` returning its mean: a VAE's sample becomes its posterior mean."""
    original = keras.random.normal
    keras.random.normal = lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: (
        keras.ops.zeros(shape, dtype=dtype) + mean)
    try:
        yield
    finally:
        keras.random.normal = original


def fit(name: str, engine: str, overrides: dict, x: np.ndarray):
    """Weights and history after EPOCHS epochs of ``name`` on ``x`` under ``engine``."""
    dist = distribute.setup(engine)
    try:
        keras.utils.set_random_seed(0)
        with dist.scope():
            model = zoo.create_model(name, **{**tiny_kwargs(name), **overrides})
            model.compile(keras.optimizers.Adam(1e-3), **{**compile_options(model), **STEP_OPTIONS})
        initial = [np.asarray(w) for w in model.get_weights()]
        data = make_pipeline(x, GLOBAL_BATCH, shuffle=False)
        history = model.fit(data, epochs=EPOCHS, verbose=0, shuffle=False).history
        return [np.asarray(w) for w in model.get_weights()], history, dist.replicas, initial
    finally:
        distribute.teardown(dist)


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))


def check_equivalence(noise: str) -> dict:
    """Per family: max |w_1 - w_2| and the reported losses, one device vs two replicas."""
    x = blob_images(N)
    out = {}
    for name in FAMILIES:
        overrides = {"noise_level": 0.0} if (noise == "off" and name == "denoising_conv") else {}
        patch = zero_gaussian_noise() if (noise == "off" and name == "vae_dense") else _nothing()
        with patch:
            w1, h1, r1, initial = fit(name, "none", overrides, x)
            w2, h2, r2, _ = fit(name, "mirrored", overrides, x)
        out[name] = {"replicas": [r1, r2], "max_weight_diff": max_diff(w1, w2),
                     "max_update": max_diff(w1, initial),
                     "loss": [h1["loss"], h2["loss"]], "penalty": [h1["penalty"], h2["penalty"]]}
    return out


@contextmanager
def _nothing():
    yield


def check_replica_noise() -> dict:
    """Each replica's noise (corruption, VAE sampling): reproducible from the seed, different per replica.

    Replica 0 draws what a single device draws for the same shape, so one-device runs
    are unchanged by distribution support.
    """
    dist = distribute.setup("mirrored")
    half = np.full((4, *tiny_kwargs("denoising_conv")["input_shape"]), 0.5, "float32")
    codes = np.zeros((4, 4), "float32")
    out = {}
    for what, make, inputs in (
            ("corruption", lambda: zoo.create_model("denoising_conv", **tiny_kwargs("denoising_conv")).corruption,
             (half,)),
            ("vae_sampling", lambda: zoo.create_model("vae_dense", **tiny_kwargs("vae_dense")).head,
             ([codes, codes],))):
        draws = []
        for _ in range(2):  # two layers built from the same seed
            layer = make()
            per_replica = dist.strategy.run(lambda x, layer=layer: layer(x, training=True), args=inputs)
            draws.append([np.asarray(v) for v in dist.strategy.experimental_local_results(per_replica)])
        single = np.asarray(make()(*inputs, training=True))
        out[what] = {"repeat_diff": max_diff(draws[0], draws[1]),
                     "replica_diff": float(np.max(np.abs(draws[0][0] - draws[0][1]))),
                     "replica0_vs_single": float(np.max(np.abs(draws[0][0] - single)))}
    return out


def kl_numpy(a: np.ndarray, rho: float, beta: float) -> float:
    rho_hat = np.clip(a.mean(axis=0), 1e-7, 1 - 1e-7)
    return float(beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))


def check_kl_value() -> dict:
    """KLSparsity on one global batch: one device, each of two replicas, and numpy."""
    rng = np.random.default_rng(0)
    # The two halves differ on purpose, so shard-wise rho_hat would give another value.
    a = np.concatenate([rng.uniform(0.01, 0.2, (8, 5)), rng.uniform(0.3, 0.9, (8, 5))]).astype("float32")
    reg = KLSparsity(rho=0.05, beta=0.7)
    single = float(keras.ops.convert_to_numpy(reg(a)))
    dist = distribute.setup("mirrored")
    try:
        if BACKEND == "tensorflow":
            shards = dist.strategy.experimental_distribute_values_from_function(
                lambda ctx: a[ctx.replica_id_in_sync_group * 8:(ctx.replica_id_in_sync_group + 1) * 8])
            values = dist.strategy.run(lambda v: reg(v), args=(shards,))
            replicas = [float(v) for v in dist.strategy.experimental_local_results(values)]
        else:  # one SPMD program over the sharded global batch, as DataParallel runs a step
            import jax

            layout = keras.distribution.distribution().get_data_layout(a.shape).backend_layout
            sharded = jax.device_put(a, layout)
            replicas = [float(jax.jit(reg.__call__)(sharded))]
            assert len(sharded.sharding.device_set) == 2
    finally:
        distribute.teardown(dist)
    shardwise = float(np.mean([kl_numpy(a[:8], 0.05, 0.7), kl_numpy(a[8:], 0.05, 0.7)]))
    return {"single": single, "replicas": replicas, "numpy": kl_numpy(a, 0.05, 0.7), "shardwise_numpy": shardwise}


CHECKS = {"equivalence_noise_off": lambda: check_equivalence("off"),
          "equivalence_noise_on": lambda: check_equivalence("on"),
          "replica_noise": check_replica_noise,
          "kl_value": check_kl_value}

if __name__ == "__main__":
    print(json.dumps({check: CHECKS[check]() for check in sys.argv[1:]}))
