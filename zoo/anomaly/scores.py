"""Anomaly scores of an autoencoder, in numpy and as a graph (higher = more anomalous).

* ``"reconstruction"``: the per-pixel reconstruction error of the deterministic
  reconstruction (:func:`zoo.models.losses.pixel_error`, MSE by default or BCE), averaged per
  example; the per-pixel maps come from :func:`error_maps`.
* ``"elbo"``: for models with a Gaussian posterior (VAEs), the negative ELBO in
  nats, averaged over ``n_samples`` seeded posterior samples (:func:`elbo_scores`).
* ``"mahalanobis"``: the Mahalanobis distance of the code under a Gaussian fitted
  (Ledoit-Wolf shrinkage) on the codes of normal training data (:class:`GaussianCodes`).
* ``"combined"``: the sum of the reconstruction and Mahalanobis scores, each
  standardised by its mean and deviation on normal training data.

:class:`AnomalyScore` is the same maths as a Keras layer, for the exported scoring graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from zoo.models.autoencoder import Autoencoder
from zoo.models.losses import gaussian_kl, pixel_error

SCORES = ("reconstruction", "elbo", "mahalanobis", "combined")


def error_maps(model: Autoencoder, x: np.ndarray, kind: str | None = None, batch_size: int = 256) -> np.ndarray:
    """Per-pixel reconstruction errors of the deterministic reconstruction, shaped like ``x``."""
    kind = kind or model.reconstruction
    recon = model.get_part("autoencoder").predict(x, batch_size=batch_size, verbose=0)
    return ops.convert_to_numpy(pixel_error(ops.convert_to_tensor(x), ops.convert_to_tensor(recon), kind))


def elbo_scores(model: Autoencoder, x: np.ndarray, n_samples: int = 8, seed: int = 0,
                batch_size: int = 256) -> np.ndarray:
    """Negative ELBO per example (nats), averaged over ``n_samples`` seeded posterior samples."""
    if not hasattr(model, "encode_distribution"):
        raise ValueError(f"score='elbo' needs a model with a Gaussian posterior (a VAE). Received: {model.name}")
    z_mean, z_log_var = model.encode_distribution(x, batch_size=batch_size)
    kl = ops.convert_to_numpy(gaussian_kl(ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)))
    rng = np.random.default_rng(seed)
    rec = np.zeros(len(x), dtype=np.float64)
    for _ in range(n_samples):
        z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape).astype(np.float32)
        x_hat = model.decode(z, batch_size=batch_size)
        err = ops.convert_to_numpy(pixel_error(ops.convert_to_tensor(x), ops.convert_to_tensor(x_hat), "bce"))
        rec += err.reshape(len(x), -1).sum(axis=1)
    return rec / n_samples + kl


@dataclass
class GaussianCodes:
    """A Gaussian fitted to normal codes; scores codes by their Mahalanobis distance."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray) -> GaussianCodes:
        """Fit mean and a Ledoit-Wolf shrunk covariance to ``codes`` ``(n, d)``."""
        from sklearn.covariance import LedoitWolf

        estimate = LedoitWolf().fit(codes.astype(np.float64))
        return cls(estimate.location_, estimate.precision_)

    def distance(self, codes: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each code."""
        d = codes.astype(np.float64) - self.mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision, d), 0.0))


@keras.saving.register_keras_serializable(package="aezoo")
class AnomalyScore(keras.layers.Layer):
    """Scores from an input and its reconstruction (and code): the graph form of :class:`Detector`'s scores.

    Args:
        score: ``"reconstruction"``, ``"mahalanobis"`` or ``"combined"``.
        error: ``"bce"`` or ``"mse"``.
        statistics: The detector's fitted statistics (code mean and precision,
            score means and deviations), as plain lists and floats.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, score: str, error: str, statistics: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.score, self.error, self.statistics = score, error, dict(statistics)

    def call(self, inputs):
        x, recon, codes = inputs
        maps = pixel_error(x, recon, self.error)
        flat = ops.reshape(maps, (ops.shape(maps)[0], -1))
        rec = ops.mean(flat, axis=1)
        if self.score == "reconstruction":
            return rec, maps
        s = self.statistics
        d = ops.reshape(codes, (ops.shape(codes)[0], -1)) - ops.convert_to_tensor(np.float32(s["code_mean"]))
        precision = ops.convert_to_tensor(np.asarray(s["code_precision"], dtype=np.float32))
        dist = ops.sqrt(ops.maximum(ops.sum(ops.matmul(d, precision) * d, axis=1), 0.0))
        if self.score == "mahalanobis":
            return dist, maps
        return ((rec - s["reconstruction_mean"]) / s["reconstruction_std"]
                + (dist - s["mahalanobis_mean"]) / s["mahalanobis_std"]), maps

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0],), input_shapes[1]

    def get_config(self) -> dict:
        return {**super().get_config(), "score": self.score, "error": self.error, "statistics": self.statistics}
