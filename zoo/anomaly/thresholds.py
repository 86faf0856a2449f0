"""What every detector shares: a threshold on its score, chosen on normal validation data.

:class:`ThresholdedDetector` is the scikit-learn / PyOD surface of :class:`zoo.anomaly.Detector`
and :class:`zoo.anomaly.DetectorEnsemble`: ``decision_function`` returns the anomaly score,
``predict`` 1 for an anomaly and 0 for a normal input; a subclass defines ``score_samples``
and ``fit``, and calls :meth:`ThresholdedDetector._calibrate` once it has validation scores.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


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


def normal_spread(scores: np.ndarray, mean: float) -> float:
    """The deviation that standardises ``scores``, floored: a spread under 0.1% of the mean carries
    no signal, only float32 noise once standardised."""
    return max(float(np.std(scores)), 1e-3 * abs(float(mean)), 1e-12)


def split_normal(model, normal_data, validation, validation_labels, validation_fraction: float,
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


class ThresholdedDetector:
    """A score with a threshold above which an example is an anomaly (the PyOD convention).

    Subclasses are dataclasses with ``threshold``, ``threshold_method`` and ``statistics``
    fields, and define :meth:`score_samples` and ``fit``.
    """

    threshold: float | None
    threshold_method: str
    statistics: dict
    #: How the error for an unfitted detector names it, and how to get a fitted one.
    fitted_hint = "call fit(normal_data, ...) first"

    def score_samples(self, data) -> np.ndarray:
        """Anomaly score of each example (higher = more anomalous)."""
        raise NotImplementedError

    def decision_function(self, data) -> np.ndarray:
        """The anomaly score (PyOD convention: higher = more anomalous)."""
        return self.score_samples(data)

    def predict(self, data) -> np.ndarray:
        """1 for an anomaly (score above the threshold), 0 for a normal example."""
        return (self.score_samples(data) > self.threshold).astype(np.int64)

    def _check_fitted(self) -> None:
        if self.threshold is None:
            raise ValueError(f"This {type(self).__name__} is not fitted; {self.fitted_hint}.")

    def _calibrate(self, val_scores: np.ndarray, labels: np.ndarray | None, *, percentile: float | None,
                   fpr: float | None) -> None:
        """Set the threshold from validation scores (``labels``: 1 = anomaly) and record its normal FPR."""
        normal = np.ones(len(val_scores), bool) if labels is None else labels == 0
        self.threshold, self.threshold_method = threshold_from_scores(
            val_scores[normal], percentile=percentile, fpr=fpr, scores=val_scores, labels=labels)
        self.statistics["validation_false_positive_rate"] = float(np.mean(val_scores[normal] > self.threshold))

    @staticmethod
    def _new_folder(folder: str | os.PathLike, overwrite: bool) -> Path:
        """``folder`` as a Path, refused if it exists and ``overwrite`` is not set."""
        folder = Path(folder)
        if folder.exists() and not overwrite:
            raise FileExistsError(f"{folder} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
        return folder
