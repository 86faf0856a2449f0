"""``ExportReport``: what was exported and how closely it matches Keras, saved as JSON beside the artifact.

An export folder holds ``export_report.json``; a single-file artifact such as
``enc.onnx`` has ``enc.onnx.export_report.json`` next to it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPORT_FILE = "export_report.json"
#: Appended to a single-file artifact's name to name its report.
REPORT_SUFFIX = "." + REPORT_FILE


def size_bytes(path: Path) -> int:
    """Size of an artifact: a file, or every file of a folder."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def report_path(path: str | Path) -> Path:
    """Where the report of the export at ``path`` (a folder, a file artifact, or the report) lives."""
    path = Path(path)
    if path.is_dir():
        return path / REPORT_FILE
    return path if path.name.endswith(".json") else path.with_name(path.name + REPORT_SUFFIX)


@dataclass
class ExportReport:
    """The result of one export and its validation in the format's own runtime.

    Errors compare the artifact's outputs with the Keras part in inference mode
    on the same inputs; ``mse_*`` compare reconstructions with the clean images
    (quantized exports only: the Keras model versus the model with this
    artifact in place of its part).
    """

    model_name: str
    format: str
    part: str
    path: str
    size_bytes: int
    runtime: str
    input_name: str
    output_name: str
    batch_sizes: list[int]
    max_abs_error: float
    mean_abs_error: float
    atol: float | None
    quantize: str | None = None
    precision: str = "float32"
    mse_keras: float | None = None
    mse_export: float | None = None
    mse_delta: float | None = None
    mse_delta_rel: float | None = None
    mse_rtol: float | None = None
    validation_inputs: str = ""
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    export_seconds: float = 0.0
    details: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    #: Calibrated int8 only: per-layer int8 error, layers kept in float and why, fallback attempts, latency.
    quantization: dict = field(default_factory=dict)
    #: Detectors only: the anomaly threshold (score > threshold), also in ``metadata["detector"]``.
    threshold: float | None = None
    #: Artifacts with several outputs (detectors): per output, max/mean abs error, scale and bound.
    outputs: dict = field(default_factory=dict)
    #: RGB models: per input size validated, max/mean abs error, the Keras outputs' max |value| and the bound.
    resolutions: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the report for the export at ``path`` (see :func:`report_path`); returns the file."""
        path = report_path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ExportReport:
        """The report of the export at ``path`` (a folder, a file artifact, or the report itself)."""
        return cls(**json.loads(report_path(path).read_text()))


def format_table(reports: list[ExportReport]) -> str:
    """A fixed-width table of reports, one row each."""
    wide = max([11, *(len(r.part) for r in reports)])  # a VQ-VAE's encoder_indices is wider than "autoencoder"
    header = (f"{'model':<22} {'part':<{wide}} {'format':<11} {'quantize':<12} {'size':>10} "
              + f"{'max abs err':>11} {'MSE delta':>10}  status")
    rows = [header, "-" * len(header)]
    for r in reports:
        delta = "" if r.mse_delta_rel is None else f"{100 * r.mse_delta_rel:+.2f}%"
        floats = len((r.quantization or {}).get("float_layers", []))
        status = ("ok" + (f" ({floats} layer{'s' if floats > 1 else ''} kept in float)" if floats else "")
                  if r.passed else "FAILED: " + "; ".join(r.failures))
        rows.append(f"{r.model_name:<22} {r.part:<{wide}} {r.format:<11} {r.quantize or '-':<12} "
                    + f"{_size(r.size_bytes):>10} {r.max_abs_error:>11.2e} {delta:>10}  {status}")
    return "\n".join(rows)


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def _psnr(report: ExportReport) -> str:
    d = report.details
    if "psnr_export_db" not in d:
        return ""
    return f", PSNR {d['psnr_export_db']:.2f} dB vs {d['psnr_keras_db']:.2f} dB float ({d['psnr_delta_db']:+.2f} dB)"


def quantization_table(report: ExportReport) -> str:
    """The quantization report of one export: per-layer int8 error, the layers kept in float and why, latency."""
    q = report.quantization
    lines = [f"{report.model_name} {report.part} {report.format} {report.quantize}: calibrated on "
             + f"{q.get('calibration_samples')} inputs; reconstruction MSE {100 * (report.mse_delta_rel or 0):+.2f}% "
             + f"(bound +{100 * (report.mse_rtol or 0):g}%)" + _psnr(report) + f", size {_size(report.size_bytes)}, latency "
             + ", ".join(f"batch {b}: {ms:.3f} ms" for b, ms in q.get("latency_ms", {}).items())]
    reasons = {f["name"]: f["reason"] for f in q.get("float_layers", [])}
    lines.append(f"  {'layer (worst int8 error first)':<60} {'op':<16} {'RMS err':>9} {'rel.':>7}  precision")
    for layer in q.get("layers", []):
        rel = "" if layer["relative"] is None else f"{100 * layer['relative']:.1f}%"
        where = "float: " + reasons[layer["name"]] if layer["name"] in reasons else "int8"
        lines.append(f"  {layer['name'][-60:]:<60} {layer['op']:<16} {layer['rmse']:>9.3g} {rel:>7}  {where}")
    return "\n".join(lines)
