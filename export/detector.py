"""Exported anomaly detectors: ``images -> {scores, error_maps}``, with the threshold in metadata, not in the graph.

The graph is :meth:`zoo.anomaly.Detector.scoring_model` (deterministic: no
corruption, no sampling; the code statistics are constants of the graph). The
threshold, how it was chosen, the score and error kinds, the model and the
detector's statistics go into the artifact's metadata (``metadata["detector"]``)
and the export report (``report.threshold``), so a deployment can change the
threshold without exporting again.

A :class:`zoo.anomaly.DetectorEnsemble` (or its saved folder) exports the same way:
its graph is :meth:`DetectorEnsemble.scoring_model` (every member's scoring graph,
standardised and averaged), and ``metadata["detector"]["members"]`` records each
member's model, pretrained name, score, error and standardisation (mean, std). The
reference images and the pretrained card are the first member's model's.

This module says what a detector artifact is (its tensors, metadata and default bounds);
``export.target`` resolves a detector (or its folder) into a target and ``export.validate.check_detector``
checks the artifact.
"""

from __future__ import annotations

from export.graph import artifact_metadata
from zoo.anomaly import Detector, DetectorEnsemble

#: The ``part`` of a detector export (it has no other).
DETECTOR_PART = "detector"
DETECTOR_INPUT = "images"
DETECTOR_OUTPUTS = ("scores", "error_maps")
#: float32 detector exports pass when the scores' max abs error is at most this fraction of max |score|.
DEFAULT_SCORE_RTOL = 1e-4
#: Default error-map tolerance, relative to max(1, max |map|). A BCE map is -log of the reconstruction:
#: where the model reconstructs a pixel as almost surely 0 (p ~ 1e-7), onnxruntime's float32 Sigmoid
#: differs from Keras' by ~4e-8 and the map by up to 6.2e-4 x its scale (measured on the 15 pretrained
#: entries, docs/export.md); TFLite and SavedModel stay under 2.5e-6. The scores keep their 1e-4 bound.
MAP_ATOL = 1e-3
#: Why a BCE map misses its bound when the scores pass, and what to do (see docs/export.md).
MAP_HINT = (": a BCE map is -log of the reconstruction, so it amplifies the runtime's float32 error where a "
            + "reconstructed pixel is near 0 or 1 (the scores average it out), and a larger atol (--atol) "
            + "accepts it if the scores pass")
#: Statistics too large for metadata (the code Gaussian; the graph holds them as constants).
GRAPH_STATISTICS = ("code_mean", "code_precision")


def detector_models(detector: Detector | DetectorEnsemble) -> list:
    """The autoencoders a detector's graph runs: its model, or each ensemble member's (the first leads)."""
    return [m.model for m in detector.members] if isinstance(detector, DetectorEnsemble) else [detector.model]


def statistics_summary(statistics: dict) -> dict:
    """The detector's statistics for metadata: everything but the code Gaussian, which is its dimension."""
    summary = {k: v for k, v in statistics.items() if k not in GRAPH_STATISTICS}
    if "code_mean" in statistics:
        summary["code_dim"] = len(statistics["code_mean"])
    return summary


def detector_metadata(detector: Detector | DetectorEnsemble, card=None) -> dict:
    """The metadata of a detector artifact: the model's, plus ``"detector"`` (threshold and how it was chosen).

    For an ensemble, the model fields are the first member's model's and
    ``"detector"`` lists every member with its standardisation.
    """
    model = detector_models(detector)[0]
    shape = list(model.data_shape)
    metadata = artifact_metadata(model, DETECTOR_PART, {DETECTOR_INPUT: [None, *shape]},
                                 {"scores": [None], "error_maps": [None, *shape]}, card)
    if isinstance(detector, DetectorEnsemble):
        stats = detector.statistics
        metadata["detector"] = {
            "threshold": detector.threshold,
            "threshold_method": detector.threshold_method,
            "rule": "anomaly if score > threshold",
            "score": "ensemble",
            "combination": "mean over members of (member score - mean) / std; error maps: mean of members' maps",
            "members": [{"model": m.model.name, "pretrained": m.model.pretrained_name, "source": m.model.provenance,
                         "score": m.score,
                         "error": m.error, "mean": mean, "std": std, "statistics": statistics_summary(m.statistics)}
                        for m, mean, std in zip(detector.members, stats["member_means"], stats["member_stds"],
                                                strict=True)],
            "statistics": {k: v for k, v in stats.items() if k not in ("member_means", "member_stds")},
        }
        return metadata
    metadata["detector"] = {
        "threshold": detector.threshold,
        "threshold_method": detector.threshold_method,
        "rule": "anomaly if score > threshold",
        "score": detector.score,
        "error": detector.error,
        "model": model.name,
        "pretrained": model.pretrained_name,
        "source": model.provenance,
        "statistics": statistics_summary(detector.statistics),
    }
    return metadata


def uses_bce(record: dict) -> bool:
    """Whether a detector's metadata record (or any ensemble member's) scores with BCE maps."""
    return any(m["error"] == "bce" for m in record.get("members", [record]))
