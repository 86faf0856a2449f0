"""Open an exported artifact in its own runtime, whatever form its path takes."""

from __future__ import annotations

import os
from pathlib import Path

from export.registry import FORMATS, ExportFormat, Runner, get_format
from export.report import REPORT_FILE, ExportReport


def find_artifact(path: str | os.PathLike) -> tuple[ExportFormat, Path]:
    """The format and artifact behind ``path``.

    ``path`` may be an export folder (with ``export_report.json``), or an
    artifact that some registered format recognises (:meth:`ExportFormat.matches`):
    a ``.onnx`` or ``.tflite`` file, a SavedModel folder, ...

    Raises:
        FileNotFoundError: Nothing there is an export; the message lists what would be.
    """
    path = Path(path)
    if (path / REPORT_FILE).is_file():
        fmt = get_format(ExportReport.load(path).format)
        return fmt, path / fmt.artifact
    for fmt in FORMATS.values():
        if fmt.matches(path):
            return fmt, path
    kinds = [fmt.kind for fmt in FORMATS.values()]
    raise FileNotFoundError(
        f"No exported model at {path}: expected an export folder with {REPORT_FILE}, "
        + ", ".join(kinds[:-1]) + f" or {kinds[-1]}."
    )


def load_artifact(path: str | os.PathLike, **runtime_options) -> Runner:
    """A :class:`Runner` for the artifact at ``path`` (see :func:`find_artifact`).

    Args:
        path: An export folder, or an artifact file/folder such as ``enc.onnx``.
        **runtime_options: Passed to the format's ``load`` (ONNX: ``providers``; TFLite: ``num_threads``).

    Example:
        >>> encode = load_artifact("exports/ae_conv_encoder.onnx")
        >>> codes = encode(images)
    """
    fmt, artifact = find_artifact(path)
    return fmt.load(artifact, **runtime_options)


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata embedded in the artifact at ``path`` (see :func:`find_artifact`).

    For an exported detector, ``read_metadata(path)["detector"]["threshold"]``
    is the threshold (an input is an anomaly if its score is above it).
    """
    fmt, artifact = find_artifact(path)
    return fmt.read_metadata(artifact)
