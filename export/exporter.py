"""``export_model``: write one part of an autoencoder in one format, validate it, then publish it atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from export import quantization, validate
from export.detector import as_detector, export_detector
from export.graph import PARTS, check_loaded, check_part, export_metadata, part_graph, pretrained_card
from export.publish import (
    LAYOUTS,
    ExportValidationError,
    artifact_is_file,
    check_free,
    size_bytes,
    stage_export,
)
from export.registry import check_options, check_quantize, get_format
from export.report import ExportReport, report_path
from zoo.models.autoencoder import Autoencoder
from zoo.utils.checks import check_choice, check_non_negative

__all__ = ["LAYOUTS", "ExportValidationError", "artifact_is_file", "check_export", "export_model", "resolve_model"]


def resolve_model(model, card=None) -> tuple[Autoencoder, object]:
    """Accept a model, a pretrained name or a ``.keras`` path; find the pretrained card if any."""
    from zoo.pretrained import load_target

    if isinstance(model, (str, os.PathLike)):
        return load_target(model)
    return model, card if card is not None else pretrained_card(model)


def export_model(
    model,
    format: str,  # noqa: A002 - the name the API promises
    path: str | os.PathLike,
    *,
    part: str | None = None,
    quantize: str | None = None,
    calibration_data=None,
    atol: float | None = None,
    mse_rtol: float | None = None,
    validation_data=None,
    overwrite: bool = False,
    card=None,
    layout: str = "auto",
    fallback: str | None = None,
    score_rtol: float | None = None,
    **options: Any,
) -> ExportReport:
    """Export one part of an autoencoder (or an anomaly detector), check it in its own runtime, and publish it.

    The artifact is written to a hidden ``.NAME.partial-*`` folder beside
    ``path``, loaded back in the format's runtime and compared with the Keras
    part in inference mode on real images at batch sizes 1, 7 and 64. Only if
    every check passes is it moved to ``path``; an existing export there is
    kept unless ``overwrite``. Staging folders that a killed export left
    behind are removed by the next export to the same ``path``.

    Where it lands: a ``path`` ending in the format's suffix (``enc.onnx``,
    ``enc.tflite``) is the artifact file itself, with its report beside it as
    ``enc.onnx.export_report.json``, so Netron, onnxruntime and the LiteRT
    tools open it directly. Any other ``path`` (or ``layout="folder"``) is a
    folder holding the artifact (``model.onnx``, ``model.tflite``,
    ``saved_model/``) and ``export_report.json``. A path ending in another
    format's suffix is an error.

    A fitted :class:`zoo.anomaly.Detector` or :class:`zoo.anomaly.DetectorEnsemble`
    (or a saved folder of either) exports as one graph, ``images -> {"scores", "error_maps"}``, float32 only; its
    threshold goes into the artifact's metadata and the report, not the graph
    (see :func:`export.detector.export_detector` and docs/export.md).

    Args:
        model: A :class:`zoo.Autoencoder`, a pretrained name or a ``.keras`` path / run folder;
            or a :class:`zoo.anomaly.Detector` / :class:`zoo.anomaly.DetectorEnsemble` or its saved folder.
        format: A registered format: ``"saved_model"``, ``"onnx"`` or ``"tflite"`` (see ``export.FORMATS``).
        path: The artifact file (with the format's suffix) or the folder to create.
        part: ``"encoder"`` (images -> codes; the default), ``"decoder"`` (codes ->
            reconstructions) or ``"autoencoder"`` (images -> reconstructions). A
            detector's part is implied (``"detector"``).
        quantize: ``None``, or one of the format's ``quantize_options``: TFLite
            offers ``"float16"``, ``"dynamic_int8"``, ``"int8"`` (full-integer)
            and ``"int16x8"``; ONNX ``"dynamic_int8"`` and ``"int8"`` (static, QDQ).
        calibration_data: Images (or codes, for a decoder) that calibrate the
            options that need it (``int8``, ``int16x8``); default: 500 images of the bundled sample.
            At least 16, finite, in the part's input shape.
        atol: Max abs error allowed against Keras; default 1e-5 for float32
            exports, unchecked for quantized ones unless given.
        mse_rtol: Quantized exports fail if the sample's reconstruction MSE grows by
            more than this fraction (default: the option's, see :func:`export.default_mse_rtol`).
        validation_data: Images to validate on instead of the bundled sample.
        overwrite: Replace an existing export at ``path``.
        card: Pretrained card to embed (found automatically for pretrained models).
        layout: ``"auto"`` (file or folder by the suffix, as above) or ``"folder"`` (always a folder).
        fallback: ``"auto"``: if a calibrated int8 export misses ``mse_rtol``, keep the layers with
            the largest int8 error (measured by the runtime's own tools) in float, the fewest
            that make the bound hold; the report and the artifact's metadata name them and say
            why. None: a miss is an error (whose message suggests ``"auto"``).
        **options: Options the format declares in ``ExportFormat.options``, e.g. ONNX's
            ``opset`` and ``calibration_method``; None values are ignored and undeclared ones are an error.
        score_rtol: Detectors only: the scores pass at max abs error <= ``score_rtol * max |score|``
            (default 1e-4); their error maps at ``atol * max(1, max |map|)``.

    Returns:
        The :class:`ExportReport`, also saved beside the artifact.

    Raises:
        ExportValidationError: The artifact does not match Keras; ``path`` is untouched.

    Example:
        >>> report = export_model("ae_conv.mnist", "onnx", "exports/ae_conv_encoder.onnx")
        >>> report.max_abs_error < 1e-5
        True
    """
    detector = as_detector(model)
    if detector is not None:
        return export_detector(detector, format, path, part=part, atol=atol, score_rtol=score_rtol,
                               validation_data=validation_data, overwrite=overwrite, card=card, layout=layout,
                               quantize=quantize, calibration_data=calibration_data, mse_rtol=mse_rtol,
                               fallback=fallback, **options)
    if score_rtol is not None:
        raise ValueError("score_rtol applies to detector exports only (a zoo.anomaly.Detector or a detector folder).")
    model, card = resolve_model(model, card)
    fmt = get_format(format)
    part = check_part(part or "encoder")
    quantize = check_quantize(fmt, quantize)
    options = check_options(fmt, options)
    if fallback is not None:
        check_choice("fallback", fallback, quantization.FALLBACKS)
        if quantize not in fmt.fallback:
            raise ValueError(f"fallback={fallback!r} applies to quantize={' or '.join(map(repr, fmt.fallback))} "
                             + f"of {fmt.name} only. Received: quantize={quantize!r}")
    if atol is None and quantize is None:
        atol = validate.DEFAULT_ATOL
    atol = None if atol is None else check_non_negative("atol", atol)
    if quantize is not None and mse_rtol is None:
        mse_rtol = fmt.quantize_options[quantize].mse_rtol
    mse_rtol = None if mse_rtol is None else check_non_negative("mse_rtol", mse_rtol)
    target = Path(path)
    as_file = artifact_is_file(fmt, target, layout)
    check_free([target, report_path(target)] if as_file else [target], overwrite)
    graph = part_graph(model, part)
    check_loaded(model, part)
    dataset = card.dataset if card is not None else "mnist"
    plan = validate.plan_for(model, dataset, validation_data)
    default_calibration = plan.calibration if plan.calibration is not None else plan.images
    calibration = (validate.calibration_inputs(model, part, calibration_data, default_calibration)
                   if quantize in fmt.calibrated else None)
    metadata = export_metadata(model, part, card)

    def build(artifact: Path) -> ExportReport:
        def check(meta: dict) -> ExportReport:
            return check_export(model, part, fmt, artifact, graph, plan, meta, atol=atol, mse_rtol=mse_rtol,
                                quantize=quantize)

        if quantize in fmt.fallback:
            with tempfile.TemporaryDirectory(prefix="aezoo-calibrate-") as workdir:
                report = quantization.calibrated_export(
                    fmt, graph, artifact, Path(workdir), quantize=quantize, calibration=calibration,
                    metadata=metadata, check=check, fallback=fallback, options=options)
        else:
            details = fmt.write(graph, artifact, metadata=metadata, quantize=quantize, calibration=calibration,
                                **options)
            report = check(metadata)
            report.details.update(details)
        if quantize is not None:
            inputs = calibration if calibration is not None else validate.part_inputs(model, part, plan.images[:256])
            report.quantization["latency_ms"] = quantization.latency_ms(fmt.load(artifact), inputs,
                                                                        plan.latency_batch_sizes)
        return report

    return stage_export(fmt, target, as_file=as_file, overwrite=overwrite, build=build,
                        validation_inputs=plan.description)


def check_export(model: Autoencoder, part: str, fmt, artifact: Path, graph, plan: validate.ValidationPlan,
                 metadata: dict, *, atol: float | None, mse_rtol: float | None,
                 quantize: str | None) -> ExportReport:
    """Load ``artifact`` in its runtime and compare it with ``graph`` on every set of ``plan``; the report says what failed.

    Each set (one resolution) runs through the one loaded artifact at every batch size of the plan.
    The float32 bound is ``atol``, times ``max(1, S)`` per set where the plan scales it (``S`` the
    largest abs value of the Keras outputs on that set).
    """
    in_name, out_name = PARTS[part]
    runner = fmt.load(artifact)

    def reference(x):
        return np.asarray(graph(x, training=False)[out_name])

    failures, resolutions, sums = [], [], [0.0, 0]
    max_err, scale = 0.0, 0.0
    for images in plan.sets:
        inputs = validate.part_inputs(model, part, images[: sum(plan.batch_sizes)])
        err, mean, s, problems = validate.compare(runner, reference, inputs, plan.batch_sizes)
        failures += problems
        bound = None if atol is None else atol * (max(1.0, s) if plan.scaled_atol else 1.0)
        size = [int(d) for d in images.shape[1:3]] if images.ndim == 4 else None
        resolutions.append({"input_size": size, "max_abs_error": err, "mean_abs_error": mean,
                            "keras_output_max_abs": s, "bound": bound})
        if bound is not None and not err <= bound:
            where = f" at {size[0]}x{size[1]}" if size and len(plan.sets) > 1 else ""
            rule = f"atol {atol:g} x max(1, {s:.3g})" if plan.scaled_atol else f"atol {atol:g}"
            failures.append(f"max abs error {err:.3g}{where} > {rule} (Keras outputs reach {s:.3g}, "
                            + f"so that is {err / max(s, 1e-30):.2g} of their range)")
        max_err, scale = max(max_err, err), max(scale, s)
        n = sum(len(b) for b in validate.batches(inputs, plan.batch_sizes)) * int(np.prod(inputs.shape[1:]))
        sums = [sums[0] + mean * n, sums[1] + n]
    if (runner.input_name, runner.output_name) != (in_name, out_name):
        failures.append(f"tensor names {runner.input_name!r} -> {runner.output_name!r}, "
                        + f"expected {in_name!r} -> {out_name!r}")
    mse_keras, mse_export = validate.plan_mse(model, part, runner, plan)
    delta = mse_export - mse_keras
    delta_rel = delta / max(mse_keras, 1e-12)
    if mse_rtol is not None and not delta_rel <= mse_rtol:
        failures.append(f"reconstruction MSE {mse_export:.4g} vs Keras {mse_keras:.4g} "
                        + f"(+{100 * delta_rel:.2f}%) > allowed +{100 * mse_rtol:g}%")
    if fmt.read_metadata(artifact) != metadata:
        failures.append("embedded metadata does not read back")
    details = {"keras_output_max_abs": scale, **validate.psnr_details(mse_keras, mse_export)}
    if plan.scaled_atol:
        details["atol_rule"] = "max abs error <= atol * max(1, max |Keras output|), at each input size"
    return ExportReport(
        model_name=metadata["model_name"], format=fmt.name, part=part, path=str(artifact),
        size_bytes=size_bytes(artifact), runtime=runner.runtime, input_name=runner.input_name,
        output_name=runner.output_name, batch_sizes=list(plan.batch_sizes), max_abs_error=max_err,
        mean_abs_error=sums[0] / max(sums[1], 1), atol=atol, quantize=quantize,
        precision=fmt.option_details(quantize), mse_keras=mse_keras, mse_export=mse_export, mse_delta=delta,
        mse_delta_rel=delta_rel, mse_rtol=mse_rtol, passed=not failures, failures=failures, metadata=metadata,
        details=details, resolutions=resolutions if len(plan.sets) > 1 or plan.scaled_atol else [],
    )
