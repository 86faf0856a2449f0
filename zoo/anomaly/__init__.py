"""Anomaly detection with a trained autoencoder, behind one front door.

``scores`` computes the anomaly scores (numpy and graph), ``thresholds`` the threshold and the
surface every detector shares (``ThresholdedDetector``), ``records`` the hashed saved records;
``detector`` is the single-model :class:`Detector`, ``ensemble`` combines several into a
:class:`DetectorEnsemble`; :func:`load_detector` loads either kind of saved folder.

Example:
    >>> from zoo.anomaly import Detector
    >>> det = Detector(zoo.create_model("ae_conv.mnist", pretrained=True), score="reconstruction")
    >>> det.fit(normal_images, fpr=0.05).predict(test_images)
"""

from zoo.anomaly.detector import DETECTOR_FILE, Detector
from zoo.anomaly.ensemble import ENSEMBLE_FILE, DetectorEnsemble, StandardisedMean, load_detector
from zoo.anomaly.records import DetectorIntegrityError
from zoo.anomaly.scores import SCORES, AnomalyScore, GaussianCodes, elbo_scores, error_maps
from zoo.anomaly.thresholds import ThresholdedDetector, threshold_from_scores

__all__ = [
    "DETECTOR_FILE", "ENSEMBLE_FILE", "SCORES", "AnomalyScore", "Detector", "DetectorEnsemble",
    "DetectorIntegrityError", "GaussianCodes", "StandardisedMean", "ThresholdedDetector", "elbo_scores", "error_maps",
    "load_detector", "threshold_from_scores",
]
