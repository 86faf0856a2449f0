"""Anomaly detection with a trained autoencoder, behind one front door.

``detector`` holds the scores, thresholds and the single-model :class:`Detector`;
``ensemble`` combines several into a :class:`DetectorEnsemble`; :func:`load_detector`
loads either kind of saved folder.

Example:
    >>> from zoo.anomaly import Detector
    >>> det = Detector(zoo.create_model("ae_conv.mnist", pretrained=True), score="reconstruction")
    >>> det.fit(normal_images, fpr=0.05).predict(test_images)
"""

from zoo.anomaly.detector import (
    DETECTOR_FILE,
    SCORES,
    AnomalyScore,
    Detector,
    DetectorIntegrityError,
    GaussianCodes,
    elbo_scores,
    error_maps,
    threshold_from_scores,
)
from zoo.anomaly.ensemble import ENSEMBLE_FILE, DetectorEnsemble, StandardisedMean, load_detector

__all__ = [
    "DETECTOR_FILE", "ENSEMBLE_FILE", "SCORES", "AnomalyScore", "Detector", "DetectorEnsemble",
    "DetectorIntegrityError", "GaussianCodes", "StandardisedMean", "elbo_scores", "error_maps",
    "load_detector", "threshold_from_scores",
]
