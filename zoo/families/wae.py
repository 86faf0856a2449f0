"""Wasserstein autoencoders with an MMD penalty (WAE-MMD; Tolstikhin et al., ICLR 2018).

A deterministic encoder whose *aggregate* code distribution is pulled towards
the prior N(0, σ²I) by a maximum mean discrepancy penalty, estimated on each
batch against as many prior samples. The kernel is the inverse multiquadratic
``k(x, y) = C / (C + ||x - y||²)`` summed over the paper's scales
``C = 2 · d · σ² · s``, s in {0.1, 0.2, 0.5, 1, 2, 5, 10}; the estimate is the
unbiased U-statistic.

This family is one module: its head (:class:`MMDPenalty`) and its recipes.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from zoo.models import backend
from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE, assemble
from zoo.models.autoencoder import Autoencoder
from zoo.models.heads import CodeHead
from zoo.models.registry import register_model
from zoo.utils.checks import check_non_negative

#: Kernel scales of the paper's MNIST experiments, as multiples of 2 · d · σ².
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _sq_distances(a, b):
    """Pairwise squared Euclidean distances between the rows of ``a`` and ``b``."""
    a2 = ops.sum(ops.square(a), axis=1, keepdims=True)
    b2 = ops.sum(ops.square(b), axis=1, keepdims=True)
    return ops.maximum(a2 + ops.transpose(b2) - 2.0 * ops.matmul(a, ops.transpose(b)), 0.0)


def mmd_imq(z, prior_samples, prior_stddev: float = 1.0, scales: Sequence[float] = IMQ_SCALES):
    """Unbiased MMD² between codes ``z`` and ``prior_samples`` (both ``(n, d)``) with IMQ kernels.

    Args:
        z: Codes, shape ``(n, d)``.
        prior_samples: Samples of the prior, shape ``(n, d)``.
        prior_stddev: σ of the prior N(0, σ²I); sets the kernels' base scale.
        scales: Multiples of ``2 · d · σ²`` whose kernels are summed.

    Returns:
        A scalar tensor.
    """
    z = ops.convert_to_tensor(z)
    p = ops.cast(ops.convert_to_tensor(prior_samples), z.dtype)
    n = ops.cast(ops.shape(z)[0], z.dtype)
    d = ops.cast(ops.shape(z)[1], z.dtype)
    dzz, dpp, dzp = _sq_distances(z, z), _sq_distances(p, p), _sq_distances(z, p)
    off_diagonal = 1.0 - ops.eye(ops.shape(z)[0], dtype=z.dtype)
    pairs = ops.maximum(n * (n - 1.0), 1.0)
    total = ops.zeros((), dtype=z.dtype)
    for s in scales:
        c = 2.0 * d * prior_stddev**2 * s
        within = ops.sum((c / (c + dzz) + c / (c + dpp)) * off_diagonal) / pairs
        total = total + within - 2.0 * ops.sum(c / (c + dzp)) / (n * n)
    return total


@keras.saving.register_keras_serializable(package="aezoo")
class MMDPenalty(CodeHead):
    """WAE head: adds ``lam * MMD²(codes, N(0, σ²I) samples)`` to the losses; the code passes unchanged.

    Args:
        lam: Weight λ >= 0 of the penalty.
        prior_stddev: σ > 0 of the Gaussian prior.
        seed: Seed of the prior samples.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, lam: float = 1.0, prior_stddev: float = 1.0, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lam = check_non_negative("lam", lam)
        self.prior_stddev = check_non_negative("prior_stddev", prior_stddev)
        if self.prior_stddev == 0.0:
            raise ValueError(f"`prior_stddev` must be > 0. Received: prior_stddev={prior_stddev!r}")
        self.seed = seed
        self.seed_generator = backend.ReplicaSeedGenerator(seed)

    def call(self, inputs, training=None):
        prior = keras.random.normal(ops.shape(inputs), stddev=self.prior_stddev, dtype=inputs.dtype,
                                    seed=self.seed_generator)
        # MMD is a statistic of the whole batch: under tf.distribute each replica gathers every
        # replica's codes and prior samples and computes the global batch's estimate.
        codes, prior = backend.cross_replica_concat(inputs), backend.cross_replica_concat(prior)
        self.add_loss(self.lam * mmd_imq(codes, prior, self.prior_stddev))
        return inputs

    def evaluation_metrics(self, model, x, codes, *, seed=0, batch_size=512) -> dict:
        """MMD² of (up to 2,000) test codes to seeded prior samples, and the codes' spread."""
        z = np.asarray(codes, dtype=np.float32).reshape(len(codes), -1)[:2000]
        prior = self.prior_stddev * np.random.default_rng(seed).standard_normal(z.shape).astype(np.float32)
        return {"mmd_to_prior": float(ops.convert_to_numpy(mmd_imq(z, prior, self.prior_stddev))),
                "code_std_mean": float(np.mean(np.std(z, axis=0)))}

    def prior_codes(self, n, code_shape, rng) -> np.ndarray:
        """Draws of the prior N(0, σ²I) the codes were pulled towards."""
        return (self.prior_stddev * rng.standard_normal((n, *code_shape))).astype(np.float32)

    def summarize(self, card_metrics: dict) -> str:
        return f"MMD² to prior {card_metrics['mmd_to_prior']:.4f}" if "mmd_to_prior" in card_metrics else ""

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam, "prior_stddev": self.prior_stddev, "seed": self.seed}


@register_model
def wae_dense(input_shape=MNIST_SHAPE, latent_dim=8, hidden_units=DENSE_UNITS, lam=1.0,
              prior_stddev=1.0, seed=None) -> Autoencoder:
    """Dense Wasserstein autoencoder with an MMD penalty towards N(0, σ²I)."""
    return assemble("dense", input_shape, latent_dim, hidden_units, name="wae_dense",
                    head=MMDPenalty(lam, prior_stddev, seed, name="mmd_penalty"))


@register_model
def wae_conv(input_shape=MNIST_SHAPE, latent_dim=8, filters=CONV_FILTERS, lam=1.0,
             prior_stddev=1.0, seed=None) -> Autoencoder:
    """Convolutional Wasserstein autoencoder with an MMD penalty towards N(0, σ²I)."""
    return assemble("conv", input_shape, latent_dim, filters, name="wae_conv",
                    head=MMDPenalty(lam, prior_stddev, seed, name="mmd_penalty"))
