"""``export_model``: write one part of an autoencoder in one format, validate it, then publish it atomically."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from export import validate
from export.formats import check_quantize, get_format
from export.graph import PARTS, check_part, export_metadata, part_graph
from export.report import ExportReport
from zoo.checks import check_non_negative
from zoo.models import Autoencoder


class ExportValidationError(ValueError):
    """An export did not reproduce the Keras model; nothing was left at the target path."""

    def __init__(self, report: ExportReport, target: Path) -> None:
        self.report = report
        super().__init__(
            f"{report.format} export of {report.model_name} ({report.part}"
            + (f", {report.quantize}" if report.quantize else "") + ") failed validation in "
            + f"{report.runtime}: {'; '.join(report.failures)}. Nothing was written to {target}."
        )


def resolve_model(model, card=None) -> tuple[Autoencoder, object]:
    """Accept a model, a pretrained name or a ``.keras`` path; find the pretrained card if any."""
    from zoo.pretrained import get_card, list_pretrained, load_target

    if isinstance(model, (str, os.PathLike)):
        return load_target(model)
    name = getattr(model, "pretrained_name", None)
    if card is None and name in list_pretrained():
        card = get_card(name)
    return model, card


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Move the finished folder into place; an old one is removed only after the new one is in."""
    old = None
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    try:
        tmp.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)  # put the previous export back
        raise
    if old is not None:
        shutil.rmtree(old)


def export_model(
    model,
    format: str,  # noqa: A002 - the name the API promises
    path: str | os.PathLike,
    *,
    part: str = "encoder",
    quantize: str | None = None,
    calibration_data=None,
    opset: int | None = None,
    atol: float | None = None,
    mse_rtol: float | None = None,
    validation_data=None,
    overwrite: bool = False,
    card=None,
) -> ExportReport:
    """Export one part of an autoencoder, check it in its own runtime, and publish it.

    The artifact is written to a temporary folder beside ``path``, loaded back
    in the format's runtime and compared with the Keras part in inference mode
    on real images at batch sizes 1, 7 and 64. Only if every check passes is
    the folder renamed to ``path``; it then holds the artifact and
    ``export_report.json``.

    Args:
        model: A :class:`zoo.Autoencoder`, a pretrained name or a ``.keras`` path / run folder.
        format: ``"saved_model"``, ``"tflite"`` or ``"onnx"`` (see ``export.FORMATS``).
        path: Folder to create for this export.
        part: ``"encoder"`` (images -> codes), ``"decoder"`` (codes ->
            reconstructions) or ``"autoencoder"`` (images -> reconstructions).
        quantize: ``None``, or a format's option: TFLite offers ``"float16"``,
            ``"dynamic_int8"``, ``"int8"`` (full-integer) and ``"int16x8"``;
            ONNX ``"dynamic_int8"``.
        calibration_data: Images (or codes, for a decoder) that calibrate
            ``int8`` and ``int16x8``; default: the bundled 1k sample.
        opset: ONNX opset (default: tf2onnx's).
        atol: Max abs error allowed against Keras; default 1e-5 for float32
            exports, unchecked for quantized ones unless given.
        mse_rtol: Quantized exports fail if the sample's reconstruction MSE grows
            by more than this fraction (default ``validate.DEFAULT_MSE_RTOL``).
        validation_data: Images to validate on instead of the bundled sample.
        overwrite: Replace an existing ``path``.
        card: Pretrained card to embed (found automatically for pretrained models).

    Returns:
        The :class:`ExportReport`, also saved as ``path/export_report.json``.

    Raises:
        ExportValidationError: The artifact does not match Keras; ``path`` is untouched.

    Example:
        >>> report = export_model("ae_conv.mnist", "onnx", "exports/ae_conv_encoder")
        >>> report.max_abs_error < 1e-5
        True
    """
    model, card = resolve_model(model, card)
    fmt = get_format(format)
    part = check_part(part)
    quantize = check_quantize(fmt, quantize)
    if atol is None and quantize is None:
        atol = validate.DEFAULT_ATOL
    atol = None if atol is None else check_non_negative("atol", atol)
    if quantize is not None and mse_rtol is None:
        mse_rtol = validate.DEFAULT_MSE_RTOL[quantize]
    mse_rtol = None if mse_rtol is None else check_non_negative("mse_rtol", mse_rtol)
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    graph = part_graph(model, part)
    dataset = card.dataset if card is not None else "mnist"
    images = validate.reference_images(model, dataset, validation_data)
    calibration = (validate.calibration_inputs(model, part, calibration_data, images)
                   if quantize in fmt.calibrated else None)
    metadata = export_metadata(model, part, card)

    tmp = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        artifact = tmp / fmt.artifact
        start = time.perf_counter()
        details = fmt.write(graph, artifact, metadata=metadata, quantize=quantize, calibration=calibration,
                            opset=opset)
        seconds = time.perf_counter() - start
        report = check_export(model, part, fmt, artifact, graph, images, metadata, atol=atol, mse_rtol=mse_rtol,
                              quantize=quantize)
        report.path = str(target / fmt.artifact)
        report.export_seconds = round(seconds, 3)
        report.details.update(details)
        report.validation_inputs = ("validation_data" if validation_data is not None
                                    else f"bundled {dataset} sample ({len(images)} images)")
        if not report.passed:
            raise ExportValidationError(report, target)
        report.save(tmp)
        _publish(tmp, target, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return report


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def check_export(model: Autoencoder, part: str, fmt, artifact: Path, graph, images: np.ndarray, metadata: dict,
                 *, atol: float | None, mse_rtol: float | None, quantize: str | None) -> ExportReport:
    """Load ``artifact`` in its runtime and compare it with ``graph``; the report says what failed."""
    in_name, out_name = PARTS[part]
    runner = fmt.load(artifact)
    inputs = validate.part_inputs(model, part, images[: sum(validate.BATCH_SIZES)])

    def reference(x):
        return np.asarray(graph(x, training=False)[out_name])

    max_err, mean_err, scale, failures = validate.compare(runner, reference, inputs)
    if (runner.input_name, runner.output_name) != (in_name, out_name):
        failures.append(f"tensor names {runner.input_name!r} -> {runner.output_name!r}, "
                        + f"expected {in_name!r} -> {out_name!r}")
    if atol is not None and not max_err <= atol:
        failures.append(f"max abs error {max_err:.3g} > atol {atol:g} (Keras outputs reach {scale:.3g}, "
                        + f"so that is {max_err / max(scale, 1e-30):.2g} of their range)")
    mse_keras, mse_export = validate.reconstruction_mse(model, part, runner, images)
    delta = mse_export - mse_keras
    delta_rel = delta / max(mse_keras, 1e-12)
    if mse_rtol is not None and not delta_rel <= mse_rtol:
        failures.append(f"reconstruction MSE {mse_export:.4g} vs Keras {mse_keras:.4g} "
                        + f"(+{100 * delta_rel:.2f}%) > allowed +{100 * mse_rtol:g}%")
    if fmt.read_metadata(artifact) != metadata:
        failures.append("embedded metadata does not read back")
    return ExportReport(
        model_name=metadata["model_name"], format=fmt.name, part=part, path=str(artifact),
        size_bytes=_size(artifact), runtime=runner.runtime, input_name=runner.input_name,
        output_name=runner.output_name, batch_sizes=list(validate.BATCH_SIZES), max_abs_error=max_err,
        mean_abs_error=mean_err, atol=atol, quantize=quantize, precision=fmt.option_details(quantize),
        mse_keras=mse_keras, mse_export=mse_export, mse_delta=delta, mse_delta_rel=delta_rel, mse_rtol=mse_rtol,
        passed=not failures, failures=failures, metadata=metadata, details={"keras_output_max_abs": scale},
    )
