"""The surface every detector shares (zoo.anomaly.thresholds), on a detector whose score is the input itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from zoo.anomaly import Detector, DetectorEnsemble, ThresholdedDetector
from zoo.anomaly.thresholds import normal_spread


@dataclass
class IdentityDetector(ThresholdedDetector):
    threshold: float | None = None
    threshold_method: str = ""
    statistics: dict = field(default_factory=dict)

    def score_samples(self, data):
        self._check_fitted()
        return np.asarray(data, np.float64)


def test_both_detectors_share_one_surface():
    for cls in (Detector, DetectorEnsemble):
        assert issubclass(cls, ThresholdedDetector)
        for name in ("decision_function", "predict", "_check_fitted", "_calibrate", "_new_folder"):
            assert name not in vars(cls), f"{cls.__name__} restates {name}"


def test_calibrate_predict_and_decision_function_against_numpy():
    rng = np.random.default_rng(0)
    val = rng.normal(size=1000)
    det = IdentityDetector()
    det._calibrate(val, None, percentile=95.0, fpr=None)
    assert det.threshold == pytest.approx(np.percentile(val, 95.0))
    assert det.statistics["validation_false_positive_rate"] == pytest.approx(np.mean(val > np.percentile(val, 95.0)))
    x = np.array([-3.0, det.threshold, det.threshold + 1e-9, 5.0])
    np.testing.assert_array_equal(det.predict(x), [0, 0, 1, 1])
    np.testing.assert_array_equal(det.decision_function(x), x)


def test_labelled_validation_counts_normals_only_for_the_false_positive_rate():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    labels = np.array([0, 0, 0, 1, 1])
    det = IdentityDetector()
    det._calibrate(scores, labels, percentile=None, fpr=None)
    assert 0.3 <= det.threshold < 0.9 and det.threshold_method.startswith("F1-optimal")
    assert det.statistics["validation_false_positive_rate"] == 0.0


def test_unfitted_and_existing_folder_refusals(tmp_path):
    with pytest.raises(ValueError, match="IdentityDetector is not fitted"):
        IdentityDetector().predict([1.0])
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ThresholdedDetector._new_folder(tmp_path / "taken", overwrite=False)
    assert ThresholdedDetector._new_folder(tmp_path / "taken", overwrite=True) == tmp_path / "taken"


def test_spread_floor():
    assert normal_spread(np.array([1.0, 3.0]), 2.0) == pytest.approx(1.0)
    # Identical scores: no spread, floored at 0.1% of the mean (float32 noise is not signal).
    assert normal_spread(np.full(5, 4.0), 4.0) == pytest.approx(4e-3)
    assert normal_spread(np.zeros(5), 0.0) == 1e-12
