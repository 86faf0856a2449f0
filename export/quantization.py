"""Calibrated int8: checks on calibration data, per-layer errors, and the automatic float fallback.

The fallback is the same for every runtime: the format measures each layer's
int8 error on the calibration data (LiteRT's ``QuantizationDebugger``,
onnxruntime's QDQ-vs-float activation comparison), and :func:`fallback_search`
keeps the worst layers in float, one more at a time, until the reconstruction
bound holds; then it puts back in int8 every one of them the bound does not
need. Each layer left in float carries the measurement that kept it there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

#: ``fallback`` values of ``export_model`` (besides None: a miss is an error).
FALLBACKS = ("auto",)
#: Calibrating on fewer inputs than this gives scales no one should ship.
MIN_CALIBRATION_SAMPLES = 16
#: Calibration inputs the per-layer statistics are computed on (the first ones).
STATISTICS_SAMPLES = 128
#: Batch sizes whose latency a quantization report gives.
LATENCY_BATCH_SIZES = (1, 256)


@dataclass
class LayerError:
    """How far one layer's int8 output is from its float output on the calibration data.

    Attributes:
        name: What the runtime calls the layer (a TFLite op's output tensor, an ONNX node).
        op: Its op type (``FULLY_CONNECTED``, ``Conv``, ...).
        rmse: RMS difference of int8 and float outputs, in the output's units (what layers are ranked by).
        relative: ``rmse`` over the RMS of the float output.
        nodes: What is kept in float together when this layer is (the op and an activation fused to it).
        stats: The runtime tool's own numbers (scale, SQNR, ...).
    """

    name: str
    op: str
    rmse: float
    relative: float | None = None
    nodes: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def check_calibration(x: np.ndarray, what: str = "calibration_data") -> np.ndarray:
    """Refuse calibration inputs no int8 file should be calibrated on; returns them as an array.

    Raises:
        ValueError: Empty, fewer than :data:`MIN_CALIBRATION_SAMPLES`, or not finite (one line each).
    """
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{what} is empty; pass at least {MIN_CALIBRATION_SAMPLES} representative inputs "
                         + "(or none, to calibrate on the bundled sample).")
    if len(x) < MIN_CALIBRATION_SAMPLES:
        raise ValueError(f"{what} has {len(x)} input{'s' if len(x) > 1 else ''}; int8 scales calibrated on so few "
                         + f"do not represent real inputs: pass at least {MIN_CALIBRATION_SAMPLES}.")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(x.size - np.isfinite(x).sum())
        raise ValueError(f"{what} contains {bad} NaN or infinite values; clean it first.")
    return x


def rank(layers: Sequence[LayerError]) -> list[LayerError]:
    """Layers worst first (by relative error where the runtime gives it, else RMS error), each op in one group."""
    def badness(e: LayerError) -> float:
        value = e.relative if e.relative is not None else e.rmse
        return float(value) if np.isfinite(value) else np.inf

    out, seen = [], set()
    for layer in sorted(layers, key=badness, reverse=True):
        nodes = [n for n in (layer.nodes or [layer.name]) if n not in seen]
        if nodes:
            seen.update(nodes)
            out.append(LayerError(layer.name, layer.op, layer.rmse, layer.relative, nodes, layer.stats))
    return out


@dataclass
class Attempt:
    """One artifact the fallback tried: the layers in float, the MSE change, and whether it passed."""

    float_layers: list[str]
    mse_delta_rel: float
    passed: bool


def fallback_search(attempt: Callable[[list[LayerError]], object], layers: list[LayerError],
                    first) -> tuple[bool, list[LayerError], dict[str, str], list[Attempt]]:
    """Keep the fewest layers in float that make ``attempt`` pass.

    Forward: the worst layer, then the two worst, ... until an attempt passes.
    Backward: each of those, least bad first, is put back in int8 if the
    bound still holds without it. Every layer left in float gets a reason:
    the MSE change measured with it back in int8.

    Args:
        attempt: Writes and validates an artifact with these layers in float; returns its report.
        layers: :func:`rank`-ed layers.
        first: The report of the all-int8 attempt (already failed).

    Returns:
        ``(whether a set passed, the layers to keep in float, name -> reason, every attempt)``; the
        artifact on disk is the last one tried, so the caller writes the chosen one again.
    """
    tried = [Attempt([], first.mse_delta_rel, first.passed)]

    def run(chosen: list[LayerError]):
        report = attempt(chosen)
        tried.append(Attempt([c.name for c in chosen], report.mse_delta_rel, report.passed))
        return report

    report, chosen = first, []
    for layer in layers:
        chosen = [*chosen, layer]
        report = run(chosen)
        if report.passed:
            break
    if not report.passed:
        return False, chosen, {}, tried
    reasons: dict[str, str] = {}
    if len(chosen) == 1:
        reasons[chosen[0].name] = f"needed: in int8 the reconstruction MSE changes {_pct(first.mse_delta_rel)}"
    else:
        for layer in reversed(chosen):
            without = [c for c in chosen if c is not layer]
            candidate = run(without)
            if candidate.passed:
                chosen = without
            else:
                reasons[layer.name] = f"needed: in int8 the reconstruction MSE changes {_pct(candidate.mse_delta_rel)}"
    for i, layer in enumerate(layers):
        if layer.name in reasons:
            reasons[layer.name] += f" (int8 error rank {i + 1} of {len(layers)}, RMS {layer.rmse:.3g})"
    return True, chosen, reasons, tried


def calibrated_export(fmt, graph, artifact: Path, *, quantize: str, calibration: np.ndarray, metadata: dict,
                      check: Callable[[dict], object], fallback: str | None, options: dict):
    """Calibrate once, write the all-int8 artifact, and keep layers in float if ``fallback`` asks and it misses.

    The format's intermediate files go to a temporary folder of their own, so that nothing but the
    artifact is ever in the staging folder that gets published.

    Args:
        fmt: The :class:`~export.registry.ExportFormat`.
        graph: The part.
        artifact: Where the artifact is written (in the staging folder).
        quantize: A quantize option declared with ``fallback=True``.
        calibration: Checked calibration inputs of the part.
        metadata: The metadata to embed; a ``quantization`` entry is added.
        check: Validates the artifact on disk against its metadata; returns an ``ExportReport``.
        fallback: None or ``"auto"``.
        options: The format's declared options that were given.

    Returns:
        The report of the artifact left at ``artifact``, with ``quantization`` filled in.
    """
    with tempfile.TemporaryDirectory(prefix="aezoo-calibrate-") as workdir:
        calibrated = fmt.calibrate(graph, Path(workdir), quantize=quantize, calibration=calibration, **options)
        return _search(calibrated, artifact, quantize=quantize, calibration=calibration, metadata=metadata,
                       check=check, fallback=fallback)


def _search(calibrated, artifact: Path, *, quantize: str, calibration: np.ndarray, metadata: dict,
            check: Callable[[dict], object], fallback: str | None):
    """Write and check the all-int8 artifact, then the float fallback if asked (see :func:`calibrated_export`)."""

    def attempt(float_layers: list[LayerError], reasons: dict[str, str] | None = None):
        meta = {**metadata, "quantization": {
            "quantize": quantize, "calibration_samples": len(calibration), "fallback": fallback,
            "float_layers": [{"name": f.name, "op": f.op, "nodes": f.nodes, "reason": (reasons or {}).get(f.name)}
                             for f in float_layers]}}
        details = calibrated.write(artifact, metadata=meta, float_layers=tuple(f.name for f in float_layers))
        report = check(meta)
        report.details.update(details)
        return report

    report = attempt([])
    layers = calibrated.layer_errors()
    chosen, reasons, tried = [], {}, []
    if not report.passed and fallback == "auto" and layers:
        found, chosen, reasons, tried = fallback_search(attempt, layers, report)
        report = attempt(chosen, reasons) if found else report
        if not found:
            report.failures.append(f"with all {len(layers)} measured layers in float it still misses the bound")
    elif not report.passed and fallback is None and any(f.startswith("reconstruction MSE") for f in report.failures):
        worst = ", ".join(f"{f.name} ({f.op})" for f in layers[:2])
        report.failures.append("fallback='auto' (CLI: --fallback auto) keeps the layers with the largest int8 "
                               + f"error in float until the bound holds; the worst here: {worst}")
    kept = {f.name: reasons.get(f.name) for f in chosen} if report.passed else {}
    report.quantization = {
        "calibration_samples": len(calibration), "fallback": fallback,
        "layers": [{**f.to_dict(), "in_float": f.name in kept} for f in layers],
        "float_layers": [{"name": f.name, "op": f.op, "nodes": f.nodes, "reason": kept[f.name]}
                         for f in chosen if f.name in kept],
        "attempts": [asdict(t) for t in tried],
    }
    return report


def _pct(x: float) -> str:
    return f"{100 * x:+.2f}%"


def latency_ms(runner, inputs: np.ndarray, sizes: Sequence[int] = LATENCY_BATCH_SIZES,
               min_seconds: float = 0.2) -> dict[str, float]:
    """Median milliseconds per call of ``runner`` at each batch size (inputs tiled to fill a batch)."""
    import statistics

    from zoo.utils.timing import time_calls

    out = {}
    for size in sizes:
        x = np.ascontiguousarray(np.resize(inputs, (size, *inputs.shape[1:])), dtype=np.float32)
        out[str(size)] = round(1e3 * statistics.median(time_calls(lambda x=x: runner(x), warmup=2,
                                                                    min_seconds=min_seconds)), 4)
    return out
