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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from export import validate
from export.graph import artifact_metadata, check_loaded, pretrained_card
from export.publish import artifact_is_file, check_free, size_bytes, stage_export
from export.registry import ExportFormat, check_options, check_quantize, get_format
from export.report import ExportReport, report_path
from zoo.anomaly import DETECTOR_FILE, ENSEMBLE_FILE, Detector, DetectorEnsemble, load_detector
from zoo.utils.checks import check_non_negative

#: The ``part`` of a detector export (it has no other).
DETECTOR_PART = "detector"
DETECTOR_INPUT = "images"
DETECTOR_OUTPUTS = ("scores", "error_maps")
#: float32 detector exports pass when the scores' max abs error is at most this fraction of max |score|.
DEFAULT_SCORE_RTOL = 1e-4
#: Why a BCE map misses its bound when the scores pass, and what to do (see docs/export.md).
#: Default error-map tolerance, relative to max(1, max |map|). A BCE map is -log of the reconstruction:
#: where the model reconstructs a pixel as almost surely 0 (p ~ 1e-7), onnxruntime's float32 Sigmoid
#: differs from Keras' by ~4e-8 and the map by up to 6.2e-4 x its scale (measured on the 15 pretrained
#: entries, docs/export.md); TFLite and SavedModel stay under 2.5e-6. The scores keep their 1e-4 bound.
MAP_ATOL = 1e-3
MAP_HINT = (": a BCE map is -log of the reconstruction, so it amplifies the runtime's float32 error where a "
            + "reconstructed pixel is near 0 or 1 (the scores average it out), and a larger atol (--atol) "
            + "accepts it if the scores pass")
#: Statistics too large for metadata (the code Gaussian; the graph holds them as constants).
GRAPH_STATISTICS = ("code_mean", "code_precision")


def as_detector(target) -> Detector | DetectorEnsemble | None:
    """``target`` as a detector or ensemble if it is one or a saved folder of one, else None.

    A folder is a detector when it holds ``zoo.anomaly.DETECTOR_FILE`` and an
    ensemble when it holds ``zoo.anomaly.ENSEMBLE_FILE``; it is loaded with
    :func:`zoo.anomaly.load_detector`, which checks every file's SHA-256.
    """
    if isinstance(target, (Detector, DetectorEnsemble)):
        return target
    if isinstance(target, (str, os.PathLike)) and any((Path(target) / name).is_file()
                                                       for name in (DETECTOR_FILE, ENSEMBLE_FILE)):
        return load_detector(target)
    return None


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
            "members": [{"model": m.model.name, "pretrained": m.model.pretrained_name, "score": m.score,
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
        "statistics": statistics_summary(detector.statistics),
    }
    return metadata


def export_detector(
    detector: Detector | DetectorEnsemble,
    format: str,  # noqa: A002 - as in export_model
    path: str | os.PathLike,
    *,
    part: str | None = None,
    atol: float | None = None,
    score_rtol: float | None = None,
    validation_data=None,
    overwrite: bool = False,
    card=None,
    layout: str = "auto",
    quantize: str | None = None,
    **options: Any,
) -> ExportReport:
    """Export a fitted detector (``export.export_model`` calls this for detectors and detector folders).

    Args:
        detector: A fitted :class:`zoo.anomaly.Detector` with a deterministic score
            (``"reconstruction"``, ``"mahalanobis"`` or ``"combined"``; ELBO samples, so it is refused),
            or a fitted :class:`zoo.anomaly.DetectorEnsemble` of such detectors.
        format: A registered format.
        path: The artifact file (with the format's suffix) or the folder to create.
        part: None or ``"detector"``: a detector exports as one graph.
        atol: Base tolerance of the error maps: they pass at max abs error
            <= ``atol * max(1, max |map|)`` (default :data:`MAP_ATOL`, 1e-3).
        score_rtol: The scores pass at max abs error <= ``score_rtol * max |score|`` (default 1e-4).
        validation_data: Images to validate on instead of the bundled sample.
        overwrite: Replace an existing export at ``path``.
        card: Pretrained card to embed (found automatically for a pretrained model; an
            ensemble's is its first member's).
        layout: ``"auto"`` or ``"folder"``, as for parts.
        quantize: Must be None: detector exports are float32.
        **options: The format's declared options (ONNX ``opset``); quantization options are refused.

    Returns:
        The :class:`ExportReport` (``report.threshold``, per-output errors in ``report.outputs``).
    """
    fmt = get_format(format)
    if part not in (None, DETECTOR_PART):
        raise ValueError(f"A detector exports as one graph (images -> scores, error_maps), so part={part!r} does "
                         + "not apply; export detector.model to get its parts.")
    quantized = {k: v for k, v in options.items() if k in ("calibration_data", "mse_rtol", "fallback")}
    if check_quantize(fmt, quantize) is not None or any(v is not None for v in quantized.values()):
        given = f"quantize={quantize!r}" if quantize is not None else \
            ", ".join(f"{k}=..." for k, v in quantized.items() if v is not None)
        raise ValueError(f"Detector exports are float32 only ({given}): quantization would move the scores its "
                         + "threshold was calibrated on. Export the detector in float32, or quantize the model's "
                         + "parts (part='encoder' / 'decoder').")
    options = check_options(fmt, {k: v for k, v in options.items() if k not in quantized})
    atol = check_non_negative("atol", MAP_ATOL if atol is None else atol)
    score_rtol = check_non_negative("score_rtol", DEFAULT_SCORE_RTOL if score_rtol is None else score_rtol)
    graph = detector.scoring_model()  # refuses unfitted and ELBO detectors
    models = detector_models(detector)
    for member_model in models:
        check_loaded(member_model, "autoencoder")
    model = models[0]
    card = card if card is not None else pretrained_card(model)
    target = Path(path)
    as_file = artifact_is_file(fmt, target, layout)
    check_free([target, report_path(target)] if as_file else [target], overwrite)
    dataset = card.dataset if card is not None else "mnist"
    images = validate.reference_images(model, dataset, validation_data)
    metadata = detector_metadata(detector, card)

    def build(artifact: Path) -> ExportReport:
        details = fmt.write(graph, artifact, metadata=metadata, **options)
        report = check_detector_export(fmt, artifact, graph, images, metadata, atol=atol, score_rtol=score_rtol)
        report.details.update(details)
        return report

    return stage_export(fmt, target, as_file=as_file, overwrite=overwrite, build=build,
                        validation_inputs=validate.describe_inputs(validation_data, dataset, images))


def uses_bce(record: dict) -> bool:
    """Whether a detector's metadata record (or any ensemble member's) scores with BCE maps."""
    return any(m["error"] == "bce" for m in record.get("members", [record]))


def check_detector_export(fmt: ExportFormat, artifact: Path, graph: keras.Model, images: np.ndarray, metadata: dict,
                          *, atol: float, score_rtol: float) -> ExportReport:
    """Load a detector artifact in its runtime and compare both outputs with the Keras scoring graph.

    Run at batch sizes 1, 7 and 64. Bounds: scores max abs error <=
    ``score_rtol * max |score|``; error maps <= ``atol * max(1, max |map|)``,
    both maxima taken over the Keras outputs of those batches.
    """
    runner = fmt.load(artifact)

    def reference(x: np.ndarray) -> dict[str, np.ndarray]:
        return {name: keras.ops.convert_to_numpy(value) for name, value in graph(x, training=False).items()}

    errors, failures = validate.compare_outputs(runner.outputs, reference, images[: sum(validate.BATCH_SIZES)])
    names_ok = runner.input_name == DETECTOR_INPUT and set(runner.output_names) == set(DETECTOR_OUTPUTS)
    if not names_ok:
        failures.append(f"tensor names {runner.input_name!r} -> {runner.output_name!r}, expected "
                        + f"{DETECTOR_INPUT!r} -> {', '.join(DETECTOR_OUTPUTS)!r}")
    scale = {name: errors[name][2] for name in DETECTOR_OUTPUTS}
    bounds = {"scores": (score_rtol * scale["scores"], f"{score_rtol:g} x max |score| {scale['scores']:.3g}"),
              "error_maps": (atol * max(1.0, scale["error_maps"]),
                             f"{atol:g} x max(1, max |map| {scale['error_maps']:.3g})")}
    outputs = {}
    for name in DETECTOR_OUTPUTS:
        max_err, mean_err, _ = errors[name]
        bound, how = bounds[name]
        outputs[name] = {"max_abs_error": max_err, "mean_abs_error": mean_err, "max_abs_keras": scale[name],
                         "bound": bound}
        if not max_err <= bound:
            failures.append(f"{name}: max abs error {max_err:.3g} > {bound:.3g} ({how})"
                            + (MAP_HINT if name == "error_maps" and uses_bce(metadata["detector"]) else ""))
    if fmt.read_metadata(artifact) != metadata:
        failures.append("embedded metadata does not read back")
    return ExportReport(
        model_name=metadata["model_name"], format=fmt.name, part=DETECTOR_PART, path=str(artifact),
        size_bytes=size_bytes(artifact), runtime=runner.runtime, input_name=runner.input_name,
        output_name=", ".join(DETECTOR_OUTPUTS) if names_ok else runner.output_name,
        batch_sizes=list(validate.BATCH_SIZES), max_abs_error=outputs["scores"]["max_abs_error"],
        mean_abs_error=outputs["scores"]["mean_abs_error"], atol=atol, passed=not failures, failures=failures,
        metadata=metadata, details={"keras_output_max_abs": scale["scores"], "score_rtol": score_rtol},
        threshold=metadata["detector"]["threshold"], outputs=outputs,
    )
