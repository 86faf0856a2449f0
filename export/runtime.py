"""Open an exported artifact in its own runtime, whatever form its path takes."""

from __future__ import annotations

import os
from pathlib import Path

from export.formats import FORMATS, ExportFormat, Runner
from export.report import REPORT_FILE, ExportReport


def find_artifact(path: str | os.PathLike) -> tuple[ExportFormat, Path]:
    """The format and artifact behind ``path``: an export folder, a ``.onnx``/``.tflite`` file or a SavedModel."""
    path = Path(path)
    if (path / REPORT_FILE).is_file():
        report = ExportReport.load(path)
        fmt = FORMATS[report.format]
        return fmt, path / fmt.artifact
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return FORMATS["saved_model"], path
    by_suffix = {".onnx": "onnx", ".tflite": "tflite"}
    if path.is_file() and path.suffix in by_suffix:
        return FORMATS[by_suffix[path.suffix]], path
    raise FileNotFoundError(
        f"No exported model at {path}: expected an export folder with {REPORT_FILE}, "
        + "a .onnx or .tflite file, or a SavedModel folder."
    )


def load_artifact(path: str | os.PathLike, **runtime_options) -> Runner:
    """A :class:`Runner` for the artifact at ``path`` (see :func:`find_artifact`).

    Example:
        >>> encode = load_artifact("exports/ae_conv_encoder")
        >>> codes = encode(images)
    """
    fmt, artifact = find_artifact(path)
    return fmt.load(artifact, **runtime_options)
