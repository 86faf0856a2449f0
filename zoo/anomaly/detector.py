"""Anomaly detection with a trained autoencoder: deterministic scores, calibrated thresholds, a saved detector.

Scores (higher = more anomalous), all deterministic for a given input and seed:

* ``"reconstruction"``: the per-pixel reconstruction error of the deterministic
  reconstruction (:func:`zoo.models.losses.pixel_error`, MSE by default or BCE), averaged per
  example; the per-pixel map is available (:meth:`Detector.score_with_maps`).
* ``"elbo"``: for models with a Gaussian posterior (VAEs), the negative ELBO in
  nats, averaged over ``n_samples`` seeded posterior samples.
* ``"mahalanobis"``: the Mahalanobis distance of the code under a Gaussian fitted
  (Ledoit-Wolf shrinkage) on the codes of normal training data.
* ``"combined"``: the sum of the reconstruction and Mahalanobis scores, each
  standardised by its mean and deviation on normal training data.

Thresholds come from normal validation scores: a percentile, a target
false-positive rate, or (with labelled validation data) the F1-optimal cut.
The methods follow the scikit-learn / PyOD convention: ``decision_function``
returns the anomaly score, ``predict`` 1 for an anomaly and 0 for a normal input.
Several detectors combine into a :class:`DetectorEnsemble` (``zoo/anomaly/ensemble.py``,
importable from here); :func:`load_detector` loads either kind of saved folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import ops

from zoo.models.autoencoder import Autoencoder
from zoo.models.losses import gaussian_kl, pixel_error
from zoo.utils.atomic import save_atomic, write_text_atomic
from zoo.utils.checks import check_choice, check_positive_int
from zoo.utils.integrity import ChecksumError, sha256

SCORES = ("reconstruction", "elbo", "mahalanobis", "combined")
DETECTOR_FILE = "detector.json"
MODEL_FILE = "model.keras"
FORMAT_VERSION = 1


class DetectorIntegrityError(ChecksumError):
    """A saved detector's files do not match their recorded SHA-256; nothing was loaded."""


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


def threshold_from_scores(normal_scores: np.ndarray, *, percentile: float | None = None, fpr: float | None = None,
                          scores: np.ndarray | None = None, labels: np.ndarray | None = None) -> tuple[float, str]:
    """A threshold (score > threshold means anomaly) and a description of how it was chosen.

    Exactly one of: ``percentile`` of the normal validation scores, a target
    false-positive rate ``fpr`` (the ``1 - fpr`` quantile of normal scores),
    or ``labels`` (1 = anomaly) of the validation ``scores`` for the F1-optimal
    cut. With none given, the 99th percentile.
    """
    given = [name for name, v in (("percentile", percentile), ("fpr", fpr), ("labels", labels)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"Choose one threshold method; received {', '.join(given)}.")
    if labels is not None:
        labels = np.asarray(labels).astype(int).ravel()
        if scores is None or len(scores) != len(labels):
            raise ValueError(f"labels need one validation score each. Received: {len(labels)} labels, "
                             + f"{0 if scores is None else len(scores)} scores")
        if len(np.unique(labels)) != 2:
            raise ValueError("An F1-optimal threshold needs validation data with both normal (0) and anomalous "
                             + f"(1) examples. Received labels: {sorted(set(labels.tolist()))}")
        from sklearn.metrics import precision_recall_curve

        precision, recall, cuts = precision_recall_curve(labels, scores)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        best = int(np.argmax(f1))
        # precision_recall_curve counts score >= cut as positive; step just below for ">".
        return float(np.nextafter(cuts[best], -np.inf)), f"F1-optimal on labelled validation data (F1 {f1[best]:.4f})"
    if fpr is not None:
        if not 0.0 < float(fpr) < 1.0:
            raise ValueError(f"`fpr` must be strictly between 0 and 1. Received: fpr={fpr!r}")
        return float(np.quantile(normal_scores, 1.0 - float(fpr))), f"target false-positive rate {fpr:g}"
    percentile = 99.0 if percentile is None else float(percentile)
    if not 0.0 < percentile < 100.0:
        raise ValueError(f"`percentile` must be strictly between 0 and 100. Received: percentile={percentile!r}")
    return float(np.percentile(normal_scores, percentile)), f"{percentile:g}th percentile of normal validation scores"


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


@dataclass
class Detector:
    """An autoencoder turned anomaly detector: a score, its normal statistics and a threshold.

    Args:
        model: A trained :class:`zoo.Autoencoder`.
        score: One of :data:`SCORES`.
        error: ``"mse"`` (default) or ``"bce"``: the per-pixel error of reconstruction scores,
            whatever loss the model trained with. MSE is the default because it ranks
            anomalies better: in the one-class benchmark (``benchmarks/anomaly.py``) the
            MSE reconstruction score beat the BCE one for every family on most classes
            (BCE rewards images with little ink, such as other digits, with low errors).
        n_samples: Posterior samples per example for ``score="elbo"``.
        seed: Seeds the ELBO samples and the normal/validation split.

    Example:
        >>> detector = Detector(zoo.load_pretrained("ae_conv.mnist"), score="combined")
        >>> detector.fit(x_normal, fpr=0.01)
        >>> flags = detector.predict(x_new)
    """

    model: Autoencoder
    score: str = "reconstruction"
    error: str | None = "mse"
    n_samples: int = 8
    seed: int = 0
    threshold: float | None = None
    threshold_method: str = ""
    statistics: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("score", self.score, SCORES)
        self.error = check_choice("error", self.error or "mse", ("mse", "bce"))
        self.n_samples = check_positive_int("n_samples", self.n_samples)

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one input example."""
        return tuple(self.model.data_shape)

    # ---- scores -------------------------------------------------------------
    def _components(self, x: np.ndarray, maps: bool = False) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.score in ("reconstruction", "combined") or maps:
            m = error_maps(self.model, x, self.error)
            out["reconstruction"] = m.reshape(len(x), -1).mean(axis=1).astype(np.float64)
            if maps:
                out["maps"] = m
        if self.score in ("mahalanobis", "combined"):
            gauss = GaussianCodes(np.asarray(self.statistics["code_mean"]), np.asarray(self.statistics["code_precision"]))
            out["mahalanobis"] = gauss.distance(self.model.encode(x).reshape(len(x), -1))
        if self.score == "elbo":
            out["elbo"] = elbo_scores(self.model, x, self.n_samples, self.seed)
        return out

    def _combine(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        if self.score != "combined":
            return parts[self.score]
        s = self.statistics
        return ((parts["reconstruction"] - s["reconstruction_mean"]) / s["reconstruction_std"]
                + (parts["mahalanobis"] - s["mahalanobis_mean"]) / s["mahalanobis_std"])

    def score_samples(self, data) -> np.ndarray:
        """Anomaly score of each example (higher = more anomalous)."""
        self._check_fitted()
        return self._combine(self._components(self.model.prepare_input(data, "score")))

    def score_with_maps(self, data) -> tuple[np.ndarray, np.ndarray]:
        """Scores and the per-pixel reconstruction error maps."""
        self._check_fitted()
        parts = self._components(self.model.prepare_input(data, "score"), maps=True)
        return self._combine(parts), parts["maps"]

    def scoring_model(self) -> keras.Model:
        """A deterministic ``keras.Model``: images -> ``{"scores", "error_maps"}`` (what exports run).

        The threshold stays outside the graph, in the detector (and in an
        export's metadata), so a deployment can change it.
        """
        self._check_fitted()
        if self.score == "elbo":
            raise ValueError("score='elbo' samples the posterior, so it has no deterministic graph to export; "
                             + "use 'reconstruction', 'mahalanobis' or 'combined'.")
        images = keras.Input(shape=self.model.data_shape, name="images")
        codes = self.model.get_part("encoder")(images)
        recon = self.model.get_part("decoder")(codes)
        scores, maps = AnomalyScore(self.score, self.error, self.statistics, name="anomaly_score")(
            [images, recon, codes])
        return keras.Model(images, {"scores": scores, "error_maps": maps}, name=f"{self.model.name}_detector")

    def decision_function(self, data) -> np.ndarray:
        """The anomaly score (PyOD convention: higher = more anomalous)."""
        return self.score_samples(data)

    def predict(self, data) -> np.ndarray:
        """1 for an anomaly (score above the threshold), 0 for a normal example."""
        return (self.score_samples(data) > self.threshold).astype(np.int64)

    # ---- fitting ------------------------------------------------------------
    def fit(self, normal_data, validation=None, *, percentile: float | None = None, fpr: float | None = None,
            validation_labels=None, validation_fraction: float = 0.2) -> Detector:
        """Learn normal statistics and a threshold.

        Args:
            normal_data: Normal training examples (images in [0, 1] or uint8).
            validation: Validation examples for the threshold; default a seeded
                ``validation_fraction`` of ``normal_data``, held out from the statistics.
            percentile: Threshold at this percentile of normal validation scores.
            fpr: Threshold for this false-positive rate on normal validation data.
            validation_labels: 1 = anomaly, 0 = normal, one per validation
                example: the F1-optimal threshold (then ``validation`` may hold anomalies).
            validation_fraction: Share of ``normal_data`` held out when no ``validation`` is given.

        Returns:
            ``self``.
        """
        x, x_val = split_normal(self.model, normal_data, validation, validation_labels, validation_fraction,
                                self.seed)
        self.statistics = {"n_normal": int(len(x)), "n_validation": int(len(x_val))}
        if self.score in ("mahalanobis", "combined"):
            gauss = GaussianCodes.fit(self.model.encode(x).reshape(len(x), -1))
            self.statistics.update(code_mean=gauss.mean.tolist(), code_precision=gauss.precision.tolist())
        parts = self._components(x)
        for name in ("reconstruction", "mahalanobis"):
            if name in parts:
                self.statistics[f"{name}_mean"] = float(np.mean(parts[name]))
                # A spread under 0.1% of the mean carries no signal, only float32 noise once standardised.
                spread = max(float(np.std(parts[name])), 1e-3 * abs(float(np.mean(parts[name]))), 1e-12)
                self.statistics[f"{name}_std"] = spread
        val_scores = self._combine(self._components(x_val))
        labels = None if validation_labels is None else np.asarray(validation_labels).astype(int).ravel()
        normal_val = val_scores if labels is None else val_scores[labels == 0]
        self.threshold, self.threshold_method = threshold_from_scores(
            normal_val, percentile=percentile, fpr=fpr, scores=val_scores, labels=labels)
        self.statistics["validation_false_positive_rate"] = float(np.mean(normal_val > self.threshold))
        return self

    def _check_fitted(self) -> None:
        if self.threshold is None:
            raise ValueError("This detector is not fitted; call fit(normal_data, ...) first (or Detector.load).")

    # ---- save / load --------------------------------------------------------
    def save(self, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``folder/`` with ``model.keras`` and ``detector.json`` (both covered by SHA-256)."""
        self._check_fitted()
        folder = Path(folder)
        if folder.exists() and not overwrite:
            raise FileExistsError(f"{folder} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
        folder.mkdir(parents=True, exist_ok=True)
        save_atomic(folder / MODEL_FILE, self.model.save)
        record = {
            "format_version": FORMAT_VERSION, "score": self.score, "error": self.error,
            "n_samples": self.n_samples, "seed": self.seed, "threshold": self.threshold,
            "threshold_method": self.threshold_method, "statistics": self.statistics,
            "model": {"file": MODEL_FILE, "sha256": sha256(folder / MODEL_FILE), "name": self.model.name,
                      "pretrained": self.model.pretrained_name},
        }
        write_record(folder / DETECTOR_FILE, record)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Detector:
        """Load a saved detector after checking both files against their SHA-256."""
        record = verified_record(folder)
        model = keras.models.load_model(Path(folder) / record["model"]["file"])
        return cls(model, score=record["score"], error=record["error"], n_samples=record["n_samples"],
                   seed=record["seed"], threshold=record["threshold"], threshold_method=record["threshold_method"],
                   statistics=record["statistics"])


def split_normal(model: Autoencoder, normal_data, validation, validation_labels, validation_fraction: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Normal training and validation examples: ``validation`` as given, else a seeded held-out share."""
    x = model.prepare_input(normal_data, "normal data")
    if validation is not None:
        return x, model.prepare_input(validation, "validation data")
    if validation_labels is not None:
        raise ValueError("validation_labels need validation data that they label.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(validation_fraction * len(x)))
    if n_val < 1 or n_val >= len(x):
        raise ValueError(f"Cannot hold out {validation_fraction:g} of {len(x)} normal examples for "
                         + "validation; pass `validation` or more normal data.")
    return x[order[n_val:]], x[order[:n_val]]


def write_record(path: Path, record: dict) -> None:
    """Write ``record`` as JSON with its own SHA-256 (``record_sha256``), which :func:`read_record` checks."""
    record["record_sha256"] = _record_digest(record)
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def read_record(path: Path, what: str) -> dict:
    """A saved JSON record after checking its own ``record_sha256``; :class:`DetectorIntegrityError` if it fails."""
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path.parent}: {path.name} is missing.")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DetectorIntegrityError(f"{path} is not valid JSON ({err}); nothing was loaded.") from err
    if not isinstance(record, dict) or record.get("record_sha256") != _record_digest(record):
        raise DetectorIntegrityError(f"{path} was edited after it was saved (its SHA-256 does not match); "
                                     + "nothing was loaded.")
    return record


def verified_record(folder: str | os.PathLike) -> dict:
    """A detector folder's record once it and its model file match their SHA-256 (nothing is loaded)."""
    record = read_record(Path(folder) / DETECTOR_FILE, "detector")
    model_path = Path(folder) / record["model"]["file"]
    if not model_path.is_file() or sha256(model_path) != record["model"]["sha256"]:
        raise DetectorIntegrityError(f"{model_path} is missing or not the model this detector was saved "
                                     + "with (SHA-256 mismatch); nothing was loaded.")
    return record


def _record_digest(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
