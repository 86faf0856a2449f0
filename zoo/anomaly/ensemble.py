"""Ensembles of anomaly detectors: several models' scores, each standardised on normal data, averaged.

Detectors of different models fail on different anomalies: in the one-class benchmark
(``benchmarks/anomaly.py``) the MSE reconstruction score of a dense autoencoder plus the
code-space Mahalanobis score of a convolutional one beats each alone. A
:class:`DetectorEnsemble` fits its members on one normal / validation split, records each
member's mean and deviation on the normal validation scores, and scores

    ensemble score = mean over members m of (s_m - mean_m) / std_m

with a threshold chosen on its own validation scores exactly as :class:`zoo.anomaly.detector.Detector`
chooses one (:class:`zoo.anomaly.thresholds.ThresholdedDetector`). Import it from :mod:`zoo.anomaly`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import ops

from zoo.anomaly.detector import DETECTOR_FILE, Detector, verified_record
from zoo.anomaly.records import FORMAT_VERSION, DetectorIntegrityError, read_record, write_record
from zoo.anomaly.thresholds import ThresholdedDetector, normal_spread, split_normal
from zoo.utils.integrity import sha256

ENSEMBLE_FILE = "ensemble.json"
MEMBERS_FOLDER = "members"


@keras.saving.register_keras_serializable(package="aezoo")
class StandardisedMean(keras.layers.Layer):
    """The graph form of :class:`DetectorEnsemble`'s score: members' scores standardised and averaged.

    Args:
        means: Each member's mean score on normal validation data.
        stds: Each member's score deviation on normal validation data.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, means: list[float], stds: list[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.means, self.stds = [float(m) for m in means], [float(s) for s in stds]

    def call(self, inputs):
        scores, maps = inputs
        standardised = [(s - m) / d for s, m, d in zip(scores, self.means, self.stds, strict=True)]
        return ops.mean(ops.stack(standardised, axis=0), axis=0), ops.mean(ops.stack(maps, axis=0), axis=0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0][0], input_shapes[1][0]

    def get_config(self) -> dict:
        return {**super().get_config(), "means": self.means, "stds": self.stds}


@dataclass
class DetectorEnsemble(ThresholdedDetector):
    """Several :class:`zoo.anomaly.detector.Detector` s as one: the mean of their standardised scores.

    Args:
        members: Two or more detectors (fitted or not; :meth:`fit` fits them) whose
            models take the same input shape. Members of different models and scores
            are the point: e.g. a dense AE's reconstruction score and a conv AE's
            Mahalanobis score.
        seed: Seeds the normal/validation hold-out (as ``Detector.seed`` does).

    Attributes:
        threshold: Ensemble scores above it are anomalies.
        threshold_method: How the threshold was chosen.
        statistics: ``member_means`` / ``member_stds`` (each member's mean and deviation
            on normal validation data), ``n_normal``, ``n_validation`` and
            ``validation_false_positive_rate``.

    Example:
        >>> ensemble = DetectorEnsemble([Detector(dense, score="reconstruction"),
        ...                              Detector(conv, score="mahalanobis")])
        >>> ensemble.fit(x_normal, fpr=0.01)
        >>> flags = ensemble.predict(x_new)
    """

    members: list[Detector]
    seed: int = 0
    threshold: float | None = None
    threshold_method: str = ""
    statistics: dict = field(default_factory=dict)
    fitted_hint = "call fit(normal_data, ...) first (or DetectorEnsemble.load)"

    def __post_init__(self) -> None:
        self.members = list(self.members)
        if len(self.members) < 2:
            raise ValueError(f"An ensemble needs at least two detectors. Received: {len(self.members)}")
        for i, member in enumerate(self.members):
            if not isinstance(member, Detector):
                raise TypeError(f"Ensemble members must be zoo.anomaly.detector.Detector objects. Received member {i}: "
                                + type(member).__name__)
        first = self.members[0]
        for i, member in enumerate(self.members[1:], start=1):
            if member.data_shape != first.data_shape:
                raise ValueError(f"Ensemble members must share the input shape: member 0 ({first.model.name}) takes "
                                 + f"{first.data_shape}, member {i} ({member.model.name}) takes {member.data_shape}.")

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one input example (shared by every member)."""
        return self.members[0].data_shape

    # ---- scores -------------------------------------------------------------
    def _standardise(self, member_scores: list[np.ndarray]) -> np.ndarray:
        s = self.statistics
        return np.mean([(scores - m) / d for scores, m, d in
                        zip(member_scores, s["member_means"], s["member_stds"], strict=True)], axis=0)

    def score_samples(self, data) -> np.ndarray:
        """Ensemble score of each example: the mean over members of ``(s_m - mean_m) / std_m``."""
        self._check_fitted()
        x = self.members[0].model.prepare_input(data, "score")
        return self._standardise([member.score_samples(x) for member in self.members])

    def score_with_maps(self, data) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble scores and error maps: the mean of the members' per-pixel error maps.

        The maps are not standardised: each member's map is its own reconstruction
        error (MSE or BCE), so the mean is in the members' pixel-error units.
        """
        self._check_fitted()
        x = self.members[0].model.prepare_input(data, "score")
        scores, maps = zip(*(member.score_with_maps(x) for member in self.members), strict=True)
        return self._standardise(list(scores)), np.mean(maps, axis=0)

    def scoring_model(self) -> keras.Model:
        """One deterministic ``keras.Model``: images -> each member's scoring graph -> standardise -> mean.

        Outputs ``{"scores", "error_maps"}`` (maps averaged over members), like
        :meth:`Detector.scoring_model`; the threshold stays outside the graph.
        """
        self._check_fitted()
        for i, member in enumerate(self.members):
            if member.score == "elbo":
                raise ValueError(f"Member {i} ({member.model.name}) uses score='elbo', which samples the posterior, "
                                 + "so this ensemble has no deterministic graph to export; use 'reconstruction', "
                                 + "'mahalanobis' or 'combined' members.")
        images = keras.Input(shape=self.data_shape, name="images")
        scores, maps = [], []
        for i, member in enumerate(self.members):
            graph = member.scoring_model()
            # A wrapper per member keeps names unique when members' models share part names.
            inner = keras.Input(shape=self.data_shape, name=f"member_{i}_images")
            out = keras.Model(inner, graph(inner), name=f"member_{i}_{member.model.name}")(images)
            scores.append(out["scores"])
            maps.append(out["error_maps"])
        s = self.statistics
        score, error_map = StandardisedMean(s["member_means"], s["member_stds"], name="ensemble_score")(
            [scores, maps])
        return keras.Model(images, {"scores": score, "error_maps": error_map}, name="detector_ensemble")

    # ---- fitting ------------------------------------------------------------
    def fit(self, normal_data, validation=None, *, percentile: float | None = None, fpr: float | None = None,
            validation_labels=None, validation_fraction: float = 0.2) -> DetectorEnsemble:
        """Fit every member on one normal / validation split, then standardise and threshold.

        Args:
            normal_data: Normal training examples (images in [0, 1] or uint8).
            validation: Validation examples; default a seeded ``validation_fraction``
                of ``normal_data`` held out (the same split a ``Detector`` with this seed makes).
            percentile: Threshold at this percentile of normal validation ensemble scores.
            fpr: Threshold for this false-positive rate on normal validation data.
            validation_labels: 1 = anomaly, 0 = normal, one per validation example:
                the F1-optimal threshold; the standardisation uses the normal ones only.
            validation_fraction: Share of ``normal_data`` held out when no ``validation`` is given.

        Returns:
            ``self``.
        """
        x, x_val = split_normal(self.members[0].model, normal_data, validation, validation_labels,
                                validation_fraction, self.seed)
        labels = None if validation_labels is None else np.asarray(validation_labels).astype(int).ravel()
        if labels is not None and len(labels) != len(x_val):
            raise ValueError(f"validation_labels need one label per validation example. Received: {len(labels)} "
                             + f"labels, {len(x_val)} examples")
        normal = np.ones(len(x_val), bool) if labels is None else labels == 0
        member_scores = []
        for member in self.members:
            member.fit(x, x_val, percentile=percentile, fpr=fpr, validation_labels=labels)
            member_scores.append(member.score_samples(x_val))
        means = [float(np.mean(s[normal])) for s in member_scores]
        stds = [normal_spread(s[normal], m) for s, m in zip(member_scores, means, strict=True)]
        self.statistics = {"n_normal": int(len(x)), "n_validation": int(len(x_val)),
                           "member_means": means, "member_stds": stds}
        self._calibrate(self._standardise(member_scores), labels, percentile=percentile, fpr=fpr)
        return self

    # ---- save / load --------------------------------------------------------
    def save(self, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``folder/ensemble.json`` and one detector folder per member under ``folder/members/``.

        The record holds its own SHA-256 and each member's ``detector.json`` SHA-256
        (which in turn covers that member's model file).
        """
        self._check_fitted()
        folder = self._new_folder(folder, overwrite)
        members = []
        for i, member in enumerate(self.members):
            relative = f"{MEMBERS_FOLDER}/{i}"
            member.save(folder / relative, overwrite=True)
            members.append({"folder": relative, "detector_sha256": sha256(folder / relative / DETECTOR_FILE),
                            "model": member.model.name, "pretrained": member.model.pretrained_name,
                            "source": member.model.provenance,
                            "score": member.score, "error": member.error})
        record = {"format_version": FORMAT_VERSION, "kind": "ensemble", "seed": self.seed,
                  "threshold": self.threshold, "threshold_method": self.threshold_method,
                  "statistics": self.statistics, "members": members}
        write_record(folder / ENSEMBLE_FILE, record)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> DetectorEnsemble:
        """Load a saved ensemble once every file matches its SHA-256 (checked before any model is loaded)."""
        folder = Path(folder)
        record = read_record(folder / ENSEMBLE_FILE, "detector ensemble")
        for entry in record["members"]:
            path = folder / entry["folder"] / DETECTOR_FILE
            if not path.is_file() or sha256(path) != entry["detector_sha256"]:
                raise DetectorIntegrityError(f"{path} is missing or not the member this ensemble was saved with "
                                             + "(SHA-256 mismatch); nothing was loaded.")
            verified_record(folder / entry["folder"])
        members = [Detector.load(folder / entry["folder"]) for entry in record["members"]]
        return cls(members, seed=record["seed"], threshold=record["threshold"],
                   threshold_method=record["threshold_method"], statistics=record["statistics"])


def load_detector(folder: str | os.PathLike) -> Detector | DetectorEnsemble:
    """A saved detector or ensemble folder, whichever ``folder`` holds (both are integrity-checked)."""
    if (Path(folder) / ENSEMBLE_FILE).is_file():
        return DetectorEnsemble.load(folder)
    return Detector.load(folder)
