"""Validating an export: the checks that pass or fail it (:func:`check_export`) on its plan (:mod:`export.plan`).

Every comparison of an artifact with Keras lives here: a part's (:func:`check_part`: per input size,
reconstruction MSE) and a detector's (:func:`check_detector`: scores and error maps), each giving the
:class:`~export.report.ExportReport` of the artifact.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from export.detector import DETECTOR_INPUT, DETECTOR_OUTPUTS, MAP_HINT, uses_bce
from export.graph import IMAGES, RECONSTRUCTIONS, model_parts, run_keras, tensor_dtype
from export.plan import BATCH_SIZES, ValidationPlan, part_inputs
from export.report import ExportReport, size_bytes
from zoo.models.autoencoder import Autoencoder

if TYPE_CHECKING:
    from export.target import ExportSettings, ExportTarget

#: float32 exports pass at this max abs error against Keras (Hugging Face exporters' default too).
DEFAULT_ATOL = 1e-5
def batches(inputs: np.ndarray, sizes=BATCH_SIZES) -> list[np.ndarray]:
    """Consecutive, distinct slices of ``inputs`` of the given sizes (wrapping around if short)."""
    out, start = [], 0
    for size in sizes:
        out.append(inputs[np.arange(start, start + size) % len(inputs)])
        start += size
    return out


def compare(runner, reference, inputs: np.ndarray, sizes=BATCH_SIZES) -> tuple[float, float, float, list[str]]:
    """Max and mean abs difference of ``runner`` and ``reference`` over batches of ``sizes``.

    Also returns the largest abs value of the reference, which puts the errors in scale.
    """
    errors, problems = compare_outputs(lambda x: {"": runner(x)}, lambda x: {"": reference(x)}, inputs, sizes)
    return (*errors[""], problems)


def compare_outputs(runner, reference, inputs: np.ndarray,
                    sizes=BATCH_SIZES) -> tuple[dict[str, tuple[float, float, float]], list[str]]:
    """:func:`compare` for artifacts with named outputs: ``runner`` and ``reference`` return dicts of arrays.

    Returns:
        Output name -> (max abs error, mean abs error, largest abs reference value),
        for every output ``reference`` gives; and the problems found (a missing
        output, a wrong shape, non-finite values).
    """
    diffs: dict[str, list[np.ndarray]] = {}
    scales: dict[str, float] = {}
    problems: list[str] = []
    for xb in batches(inputs, sizes):
        got, want = runner(xb), reference(xb)
        for name, w in want.items():
            w = np.asarray(w)
            label = f"{name} " if name else ""
            scales[name] = max(scales.get(name, 0.0), float(np.max(np.abs(w))))
            diffs.setdefault(name, [])
            if name not in got:
                problems.append(f"batch {len(xb)}: no output {name!r} (the artifact gives {sorted(got)})")
            elif got[name].shape != w.shape:
                problems.append(f"batch {len(xb)}: {label}output shape {got[name].shape}, Keras gives {w.shape}")
            else:
                diffs[name].append(np.abs(got[name].astype(np.float64) - w).ravel())
    errors = {}
    for name, found in diffs.items():
        if not found:
            errors[name] = (float("inf"), float("inf"), scales[name])
            continue
        d = np.concatenate(found)
        if not np.isfinite(d).all():
            problems.append(f"non-finite {name or 'outputs'}")
        errors[name] = (float(np.max(d)), float(np.mean(d)), scales[name])
    return errors, problems


def run_batched(fn, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``fn`` over ``x`` in batches of ``batch_size``, concatenated."""
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def reconstruction_mse(model: Autoencoder, part: str, runner, images: np.ndarray) -> tuple[float, float]:
    """Reconstruction MSE of the Keras model and of the model with the artifact in place of ``part``."""
    in_name, out_name = model_parts(model)[part]
    keras_rec = run_keras(model, images, IMAGES, RECONSTRUCTIONS)
    outputs = run_batched(runner, run_keras(model, images, IMAGES, in_name))
    rec = run_keras(model, outputs, out_name, RECONSTRUCTIONS)
    keras_mse = float(np.mean((keras_rec.astype(np.float64) - images) ** 2))
    export_mse = float(np.mean((rec.reshape(images.shape).astype(np.float64) - images) ** 2))
    return keras_mse, export_mse


def plan_mse(model: Autoencoder, part: str, runner, plan: ValidationPlan) -> tuple[float, float]:
    """:func:`reconstruction_mse` over every set of ``plan``, weighted by their pixel counts."""
    keras_sum = export_sum = count = 0.0
    for images in plan.sets:
        k, e = reconstruction_mse(model, part, runner, images)
        n = images.size
        keras_sum, export_sum, count = keras_sum + k * n, export_sum + e * n, count + n
    return keras_sum / count, export_sum / count


def psnr_details(mse_keras: float, mse_export: float) -> dict[str, float]:
    """Reconstruction PSNR (images in [0, 1]) of Keras and of the model with the artifact in place, in dB."""
    def psnr(mse: float) -> float:
        return round(float(10 * np.log10(1.0 / max(mse, 1e-20))), 4)

    return {"psnr_keras_db": psnr(mse_keras), "psnr_export_db": psnr(mse_export),
            "psnr_delta_db": round(psnr(mse_export) - psnr(mse_keras), 4)}


def nearest_code_ties(model: Autoencoder, images: np.ndarray, want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Where index ``got`` is as near a code to the encoder's vector as ``want`` up to float32 rounding.

    ``z`` is the Keras encoder network's vector at each position, ``e`` the codebook; in float64, a
    position is a near-tie if ``|z - e_got|² - |z - e_want|² <= TIE_RTOL * (|z|² + |e_got|² + |e_want|²)``:
    a float32 nearest-code search adds and subtracts terms of that size, so its rounding scales with them.
    """
    z = np.asarray(model.encoder_network.predict(images, batch_size=256, verbose=0), dtype=np.float64)
    codebook = np.asarray(keras.ops.convert_to_numpy(model.head.codebook), dtype=np.float64)
    e_want, e_got = codebook[want], codebook[got]
    gap = np.sum((z - e_got) ** 2, -1) - np.sum((z - e_want) ** 2, -1)
    scale = np.sum(z ** 2, -1) + np.sum(e_want ** 2, -1) + np.sum(e_got ** 2, -1)
    return gap <= TIE_RTOL * scale


#: Integer output tensors -> where a value other than Keras's is still right (a near-tie); other
#: integer outputs must equal Keras's everywhere.
TIE_RULES = {"indices": nearest_code_ties}
#: A nearest-code index may differ from Keras's only at a near-tie of this size (:func:`nearest_code_ties`):
#: 30x the largest float32 rounding measured on the pretrained VQ-VAEs' sample (3e-7 of the same scale).
TIE_RTOL = 1e-5
#: ... and only if the reconstruction MSE with the artifact in place stays within this fraction of Keras's.
TIE_MSE_RTOL = 1e-3


def compare_indices(model: Autoencoder, out_name: str, runner, reference, inputs: np.ndarray,
                    sizes=BATCH_SIZES) -> dict[str, int]:
    """Integer outputs of ``runner`` against ``reference``, value by value, over batches of ``sizes``.

    Returns:
        ``positions`` compared, ``mismatches`` and, of those, ``ties`` accepted by the tensor's
        :data:`TIE_RULES` rule (none without one). A batch with another shape counts as all mismatched.
    """
    counts = {"positions": 0, "mismatches": 0, "ties": 0}
    for xb in batches(inputs, sizes):
        got, want = np.asarray(runner(xb)), np.asarray(reference(xb))
        counts["positions"] += want.size
        if got.shape != want.shape:
            counts["mismatches"] += want.size
            continue
        differ = got != want
        counts["mismatches"] += int(differ.sum())
        if differ.any() and out_name in TIE_RULES:
            counts["ties"] += int(TIE_RULES[out_name](model, xb, want, got)[differ].sum())
    return counts


def index_failures(counts: dict[str, int], quantized: bool, mse_delta_rel: float) -> list[str]:
    """Why integer outputs fail float32 validation: a mismatch that is no near-tie, or ties that move the MSE."""
    if quantized or not counts["mismatches"]:
        return []  # quantized exports are judged by their reconstruction MSE, like every quantized part
    other = counts["mismatches"] - counts["ties"]
    if other:
        return [f"{counts['mismatches']} of {counts['positions']} indices differ from Keras's, {other} of them "
                + f"at no near-tie (distance gap > {TIE_RTOL:g} x (|z|² + |e|² + |e'|²))"]
    if not abs(mse_delta_rel) <= TIE_MSE_RTOL:
        return [f"{counts['ties']} near-tie indices move the reconstruction MSE by {100 * mse_delta_rel:+.3f}% "
                + f"(allowed {100 * TIE_MSE_RTOL:g}%)"]
    return []


def check_part(target: ExportTarget, settings: ExportSettings, artifact: Path, graph: keras.Model,
               plan: ValidationPlan, metadata: dict) -> ExportReport:
    """Load a part's artifact in its runtime and compare it with ``graph`` on every set of ``plan``.

    Each set (one resolution) runs through the one loaded artifact at every batch size of the plan.
    The float32 bound is ``atol``, times ``max(1, S)`` per set where the plan scales it (``S`` the
    largest abs value of the Keras outputs on that set). Integer outputs (a VQ-VAE's indices) are
    compared value by value instead (:func:`compare_indices`, :func:`index_failures`). With ``mse_rtol``,
    the reconstruction MSE of the model with the artifact in place of its part may grow by at most that
    fraction.
    """
    model, part, fmt, atol = target.model, target.part, settings.fmt, settings.atol
    in_name, out_name = model_parts(model)[part]
    runner = fmt.load(artifact)

    def reference(x):
        return np.asarray(graph(x, training=False)[out_name])

    failures, resolutions, sums = [], [], [0.0, 0]
    max_err, scale = 0.0, 0.0
    exact = np.issubdtype(np.dtype(tensor_dtype(model, out_name)), np.integer)
    counts = {"positions": 0, "mismatches": 0, "ties": 0}
    for images in plan.sets:
        inputs = part_inputs(model, part, images[: sum(plan.batch_sizes)])
        err, mean, s, problems = compare(runner, reference, inputs, plan.batch_sizes)
        failures += problems
        if exact:  # indices: equal, or a near-tie (below); no abs-error bound
            found = compare_indices(model, out_name, runner, reference, inputs, plan.batch_sizes)
            counts = {k: counts[k] + found[k] for k in counts}
        bound = None if atol is None or exact else atol * (max(1.0, s) if plan.scaled_atol else 1.0)
        size = [int(d) for d in images.shape[1:3]] if images.ndim == 4 else None
        resolutions.append({"input_size": size, "max_abs_error": err, "mean_abs_error": mean,
                            "keras_output_max_abs": s, "bound": bound})
        if bound is not None and not err <= bound:
            where = f" at {size[0]}x{size[1]}" if size and len(plan.sets) > 1 else ""
            rule = f"atol {atol:g} x max(1, {s:.3g})" if plan.scaled_atol else f"atol {atol:g}"
            failures.append(f"max abs error {err:.3g}{where} > {rule} (Keras outputs reach {s:.3g}, "
                            + f"so that is {err / max(s, 1e-30):.2g} of their range)")
        max_err, scale = max(max_err, err), max(scale, s)
        n = sum(len(b) for b in batches(inputs, plan.batch_sizes)) * int(np.prod(inputs.shape[1:]))
        sums = [sums[0] + mean * n, sums[1] + n]
    if (runner.input_name, runner.output_name) != (in_name, out_name):
        failures.append(f"tensor names {runner.input_name!r} -> {runner.output_name!r}, "
                        + f"expected {in_name!r} -> {out_name!r}")
    mse_keras, mse_export = plan_mse(model, part, runner, plan)
    delta = mse_export - mse_keras
    delta_rel = delta / max(mse_keras, 1e-12)
    if settings.mse_rtol is not None and not delta_rel <= settings.mse_rtol:
        failures.append(f"reconstruction MSE {mse_export:.4g} vs Keras {mse_keras:.4g} "
                        + f"(+{100 * delta_rel:.2f}%) > allowed +{100 * settings.mse_rtol:g}%")
    if exact:
        failures += index_failures(counts, settings.quantize is not None, delta_rel)
    if fmt.read_metadata(artifact) != metadata:
        failures.append("embedded metadata does not read back")
    details = {"keras_output_max_abs": scale, **psnr_details(mse_keras, mse_export)}
    if exact:
        rule = (f"equal to Keras's; else a near-tie (distance gap <= {TIE_RTOL:g} x (|z|² + |e|² + |e'|²)) "
                + f"and reconstruction MSE within {100 * TIE_MSE_RTOL:g}%")
        details.update({f"index_{k}": v for k, v in counts.items()}, index_rule=rule if settings.quantize is None
                       else "reported, not checked: the reconstruction MSE decides")
    if plan.scaled_atol:
        details["atol_rule"] = "max abs error <= atol * max(1, max |Keras output|), at each input size"
    return ExportReport(
        model_name=metadata["model_name"], format=fmt.name, part=part, path=str(artifact),
        size_bytes=size_bytes(artifact), runtime=runner.runtime, input_name=runner.input_name,
        output_name=runner.output_name, batch_sizes=list(plan.batch_sizes), max_abs_error=max_err,
        mean_abs_error=sums[0] / max(sums[1], 1), atol=atol, quantize=settings.quantize,
        precision=fmt.option_details(settings.quantize), mse_keras=mse_keras, mse_export=mse_export,
        mse_delta=delta, mse_delta_rel=delta_rel, mse_rtol=settings.mse_rtol, validation_inputs=plan.description,
        passed=not failures, failures=failures, metadata=metadata, details=details,
        resolutions=resolutions if len(plan.sets) > 1 or plan.scaled_atol else [],
    )


def check_detector(target: ExportTarget, settings: ExportSettings, artifact: Path, graph: keras.Model,
                   plan: ValidationPlan, metadata: dict) -> ExportReport:
    """Load a detector's artifact in its runtime and compare both outputs with the Keras scoring graph.

    Run at the plan's batch sizes (1, 7 and 64). Bounds: scores max abs error <=
    ``score_rtol * max |score|``; error maps <= ``atol * max(1, max |map|)``,
    both maxima taken over the Keras outputs of those batches.
    """
    fmt, atol, score_rtol = settings.fmt, settings.atol, settings.score_rtol
    runner = fmt.load(artifact)

    def reference(x: np.ndarray) -> dict[str, np.ndarray]:
        return {name: keras.ops.convert_to_numpy(value) for name, value in graph(x, training=False).items()}

    errors, failures = compare_outputs(runner.outputs, reference, plan.images[: sum(plan.batch_sizes)],
                                       plan.batch_sizes)
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
        model_name=metadata["model_name"], format=fmt.name, part=target.part, path=str(artifact),
        size_bytes=size_bytes(artifact), runtime=runner.runtime, input_name=runner.input_name,
        output_name=", ".join(DETECTOR_OUTPUTS) if names_ok else runner.output_name,
        batch_sizes=list(plan.batch_sizes), max_abs_error=outputs["scores"]["max_abs_error"],
        mean_abs_error=outputs["scores"]["mean_abs_error"], atol=atol, validation_inputs=plan.description,
        passed=not failures, failures=failures, metadata=metadata,
        details={"keras_output_max_abs": scale["scores"], "score_rtol": score_rtol},
        threshold=metadata["detector"]["threshold"], outputs=outputs,
    )


#: Target kind -> the check that passes or fails its artifact.
CHECKS = {"part": check_part, "detector": check_detector}


def check_export(target: ExportTarget, settings: ExportSettings, artifact: Path, graph: keras.Model,
                 plan: ValidationPlan, metadata: dict) -> ExportReport:
    """Load ``artifact`` in its runtime, compare it with ``graph`` on ``plan``; the report says what failed.

    Args:
        target: What was exported (its kind picks the check: :data:`CHECKS`).
        settings: The export's options (format, tolerances).
        artifact: The staged artifact.
        graph: The Keras graph that was written.
        plan: What to check it on (:func:`plan_export`).
        metadata: What the artifact must embed.
    """
    return CHECKS[target.kind](target, settings, artifact, graph, plan, metadata)


def __getattr__(name: str):
    if name == "DEFAULT_MSE_RTOL":
        warnings.warn("export.validate.DEFAULT_MSE_RTOL is deprecated: the tolerances are declared by each "
                      + "format; use export.default_mse_rtol(format, quantize) or "
                      + "export.get_format(format).quantize_options.", DeprecationWarning, stacklevel=2)
        from export.registry import FORMATS

        return {q: opt.mse_rtol for fmt in reversed(FORMATS.values()) for q, opt in fmt.quantize_options.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
