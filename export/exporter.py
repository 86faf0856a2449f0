"""``export_model``: resolve what to export, build its graph, write it, validate it, publish it. One road.

The pipeline reads top to bottom in :func:`export_model`; each step is a call into one module and
none calls back up:

1. :func:`export.target.resolve_target` - what ``model`` is (a part of an autoencoder, or a detector);
   :func:`export.settings.resolve_settings` - its options, checked against it and the format.
2. :func:`export.publish.destination` - where it goes (a file or a folder), refused if taken.
3. :func:`export.plan.plan_export` - what it is checked (and calibrated) on.
4. ``target.graph()`` / ``target.metadata()`` - the Keras graph and what the artifact embeds.
5. ``fmt.write`` (or :func:`export.quantization.calibrated_export` with the float fallback) - the artifact,
   in a staging folder (:func:`export.publish.staging`).
6. :func:`export.validate.check_export` - the artifact in its runtime against Keras: the report.
7. :func:`export.publish.publish_export` - renamed into place if it passed.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Any

from export import plan as planning
from export import publish, quantization, validate
from export.publish import LAYOUTS, ExportValidationError, artifact_is_file
from export.registry import get_format
from export.report import ExportReport
from export.settings import resolve_settings
from export.target import resolve_model, resolve_target

__all__ = ["LAYOUTS", "ExportValidationError", "artifact_is_file", "export_model", "resolve_model"]


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
    (see :mod:`export.detector`, :func:`export.validate.check_detector` and docs/export.md).

    Args:
        model: A :class:`zoo.Autoencoder`, a pretrained name or a ``.keras`` path / run folder;
            or a :class:`zoo.anomaly.Detector` / :class:`zoo.anomaly.DetectorEnsemble` or its saved folder;
            or a target from :func:`export.target.resolve_target` (resolved once, e.g. for several formats).
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
        TypeError: ``model`` is none of the kinds above.
        ValueError: An unknown name, part, format or option, or an option that does not apply to
            ``model`` (``score_rtol`` for a part; ``quantize``, ``calibration_data``, ``mse_rtol`` or
            ``fallback`` for a detector); one line each, before anything is written.

    Example:
        >>> report = export_model("ae_conv.mnist", "onnx", "exports/ae_conv_encoder.onnx")
        >>> report.max_abs_error < 1e-5
        True
    """
    fmt = get_format(format)
    target = resolve_target(model, part=part, card=card)
    settings = resolve_settings(target, fmt, quantize=quantize, calibration_data=calibration_data, atol=atol,
                                mse_rtol=mse_rtol, score_rtol=score_rtol, fallback=fallback, options=options)
    dest = publish.destination(fmt, path, layout=layout, overwrite=overwrite)
    plan = planning.plan_export(target, settings, validation_data)
    graph = target.graph()
    metadata = target.metadata()
    with publish.staging(dest) as artifact:
        start = time.perf_counter()
        check = partial(validate.check_export, target, settings, artifact, graph, plan)
        if settings.quantize in fmt.fallback:  # calibrate once; write and check until the bound holds
            report = quantization.calibrated_export(
                fmt, graph, artifact, quantize=settings.quantize, calibration=plan.calibration_inputs,
                metadata=metadata, check=check, fallback=settings.fallback, options=settings.options)
        else:
            details = fmt.write(graph, artifact, metadata=metadata, quantize=settings.quantize,
                                calibration=plan.calibration_inputs, **settings.options)
            report = check(metadata)
            report.details.update(details)
        if settings.quantize is not None:
            report.quantization["latency_ms"] = quantization.latency_ms(fmt.load(artifact), plan.latency_inputs,
                                                                        plan.latency_batch_sizes)
        report.export_seconds = round(time.perf_counter() - start, 3)
        return publish.publish_export(dest, artifact, report)
