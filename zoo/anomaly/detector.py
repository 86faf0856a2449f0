"""A single-model anomaly detector: an autoencoder's score, its normal statistics and a threshold.

The scores are :mod:`zoo.anomaly.scores`' (reconstruction, ELBO, Mahalanobis, combined), the
threshold comes from normal validation scores (:mod:`zoo.anomaly.thresholds`: a percentile, a
target false-positive rate, or with labelled validation data the F1-optimal cut), and a saved
detector is a folder whose files are covered by SHA-256 (:mod:`zoo.anomaly.records`). Several
detectors combine into a :class:`zoo.anomaly.DetectorEnsemble`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from zoo.anomaly.records import FORMAT_VERSION, DetectorIntegrityError, read_record, write_record
from zoo.anomaly.scores import SCORES, AnomalyScore, GaussianCodes, elbo_scores, error_maps
from zoo.anomaly.thresholds import ThresholdedDetector, normal_spread, split_normal
from zoo.models.autoencoder import Autoencoder
from zoo.utils.atomic import save_atomic
from zoo.utils.checks import check_choice, check_positive_int
from zoo.utils.integrity import sha256

DETECTOR_FILE = "detector.json"
MODEL_FILE = "model.keras"


@dataclass
class Detector(ThresholdedDetector):
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
    fitted_hint = "call fit(normal_data, ...) first (or Detector.load)"

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
                mean = float(np.mean(parts[name]))
                self.statistics[f"{name}_mean"] = mean
                self.statistics[f"{name}_std"] = normal_spread(parts[name], mean)
        labels = None if validation_labels is None else np.asarray(validation_labels).astype(int).ravel()
        self._calibrate(self._combine(self._components(x_val)), labels, percentile=percentile, fpr=fpr)
        return self

    # ---- save / load --------------------------------------------------------
    def save(self, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``folder/`` with ``model.keras`` and ``detector.json`` (both covered by SHA-256)."""
        self._check_fitted()
        folder = self._new_folder(folder, overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        save_atomic(folder / MODEL_FILE, self.model.save)
        record = {
            "format_version": FORMAT_VERSION, "score": self.score, "error": self.error,
            "n_samples": self.n_samples, "seed": self.seed, "threshold": self.threshold,
            "threshold_method": self.threshold_method, "statistics": self.statistics,
            "model": {"file": MODEL_FILE, "sha256": sha256(folder / MODEL_FILE), "name": self.model.name,
                      "pretrained": self.model.pretrained_name, "source": self.model.provenance},
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


def verified_record(folder: str | os.PathLike) -> dict:
    """A detector folder's record once it and its model file match their SHA-256 (nothing is loaded)."""
    record = read_record(Path(folder) / DETECTOR_FILE, "detector")
    model_path = Path(folder) / record["model"]["file"]
    if not model_path.is_file() or sha256(model_path) != record["model"]["sha256"]:
        raise DetectorIntegrityError(f"{model_path} is missing or not the model this detector was saved "
                                     + "with (SHA-256 mismatch); nothing was loaded.")
    return record
