"""The options of an export, checked once against its target and format: :func:`resolve_settings`.

Some options apply to one kind of target only (:data:`ONLY_FOR`): ``score_rtol`` to detectors;
``quantize``, ``calibration_data``, ``mse_rtol`` and ``fallback`` to parts of an autoencoder. Given to
the other kind, each is refused in one line that names it and the target. A part with an integer
tensor (a VQ-VAE's indices) refuses the quantize options it cannot take (:func:`check_integer_tensors`).
"""

from __future__ import annotations

from export import quantization, validate
from export.detector import DEFAULT_SCORE_RTOL, MAP_ATOL
from export.graph import model_parts, tensor_dtype
from export.registry import ExportFormat, check_options, check_quantize
from export.target import DetectorTarget, ExportSettings, ExportTarget, PartTarget
from zoo.utils.checks import check_choice, check_non_negative

_FLOAT32_ONLY = ("Detector exports are float32 only: quantization would move the scores their threshold was "
                 + "calibrated on; export the detector in float32, or quantize the model's parts "
                 + "(part='encoder' / 'decoder')")
#: Options that apply to one kind of target only: name -> (that kind, why they do not apply to the others).
ONLY_FOR: dict[str, tuple[str, str]] = {
    "score_rtol": (DetectorTarget.kind, "score_rtol applies to detector exports only (a zoo.anomaly.Detector, a "
                   + "DetectorEnsemble or a folder saved by either)"),
    "quantize": (PartTarget.kind, _FLOAT32_ONLY),
    "calibration_data": (PartTarget.kind, _FLOAT32_ONLY),
    "mse_rtol": (PartTarget.kind, _FLOAT32_ONLY),
    "fallback": (PartTarget.kind, _FLOAT32_ONLY),
}


#: Why a quantize option cannot apply to a part with an integer tensor: the input's rule covers every
#: option; an output's, the (format, option) pairs listed.
INTEGER_INPUT = ("takes integer {tensor}, and quantized exports are calibrated and timed on float inputs; "
                 + "quantize the float part beside it (for a VQ-VAE's index_decoder: part='decoder', code "
                 + "vectors -> images)")
INTEGER_OUTPUT = {("tflite", "int16x8"): "gives integer {tensor} from an ARG_MIN, which LiteRT's 16x8 quantizer "
                  + "does not support; use quantize='int8', 'dynamic_int8' or 'float16'"}


def check_integer_tensors(target: PartTarget, fmt: ExportFormat, quantize: str | None) -> None:
    """Refuse ``quantize`` for a part with an integer input, or with an integer output where ``fmt`` cannot."""
    if quantize is None:
        return
    in_name, out_name = model_parts(target.model)[target.part]
    why = None
    if tensor_dtype(target.model, in_name) != "float32":
        why = INTEGER_INPUT.format(tensor=in_name)
    elif tensor_dtype(target.model, out_name) != "float32" and (fmt.name, quantize) in INTEGER_OUTPUT:
        why = INTEGER_OUTPUT[fmt.name, quantize].format(tensor=out_name)
    if why:
        what = target.describe()
        raise ValueError(f"{what[:1].upper()}{what[1:]} {why}. Received: quantize={quantize!r}, "
                         + f"format={fmt.name!r}")


def _part_settings(target: PartTarget, fmt: ExportFormat, quantize, atol, mse_rtol, score_rtol, fallback) -> dict:
    quantize = check_quantize(fmt, quantize)
    check_integer_tensors(target, fmt, quantize)
    if fallback is not None:
        check_choice("fallback", fallback, quantization.FALLBACKS)
        if quantize not in fmt.fallback:
            raise ValueError(f"fallback={fallback!r} applies to quantize={' or '.join(map(repr, fmt.fallback))} "
                             + f"of {fmt.name} only. Received: quantize={quantize!r}")
    if atol is None and quantize is None:
        atol = validate.DEFAULT_ATOL
    if quantize is not None and mse_rtol is None:
        mse_rtol = fmt.quantize_options[quantize].mse_rtol
    return {"quantize": quantize, "fallback": fallback,
            "atol": None if atol is None else check_non_negative("atol", atol),
            "mse_rtol": None if mse_rtol is None else check_non_negative("mse_rtol", mse_rtol)}


def _detector_settings(target: DetectorTarget, fmt: ExportFormat, quantize, atol, mse_rtol, score_rtol, fallback) -> dict:
    return {"atol": check_non_negative("atol", MAP_ATOL if atol is None else atol),
            "score_rtol": check_non_negative("score_rtol", DEFAULT_SCORE_RTOL if score_rtol is None else score_rtol)}


#: Target kind -> its checks and defaults of the tolerances and quantization.
SETTINGS = {PartTarget.kind: _part_settings, DetectorTarget.kind: _detector_settings}


def resolve_settings(target: ExportTarget, fmt: ExportFormat, *, quantize: str | None = None,
                     calibration_data=None, atol: float | None = None, mse_rtol: float | None = None,
                     score_rtol: float | None = None, fallback: str | None = None,
                     options: dict | None = None) -> ExportSettings:
    """Check the options of an export of ``target`` to ``fmt`` and fill in the defaults (see ``export_model``).

    Raises:
        ValueError: An option that does not apply to the target (:data:`ONLY_FOR`), a quantize option or
            extra option ``fmt`` does not offer, or a negative tolerance; one line each.
    """
    given = {"quantize": quantize, "calibration_data": calibration_data, "mse_rtol": mse_rtol,
             "fallback": fallback, "score_rtol": score_rtol}
    for name, value in given.items():
        kind, why = ONLY_FOR[name]
        if value is not None and target.kind != kind:
            shown = "..." if name == "calibration_data" else repr(value)
            raise ValueError(f"{why}. Received: {name}={shown} for {target.describe()}.")
    checked = SETTINGS[target.kind](target, fmt, quantize, atol, mse_rtol, score_rtol, fallback)
    return ExportSettings(fmt, calibration_data=calibration_data, options=check_options(fmt, options or {}),
                          **checked)
