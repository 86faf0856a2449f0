"""Export autoencoder parts to SavedModel, TFLite/LiteRT and ONNX, each checked in its own runtime.

Example:
    >>> from export import export_model
    >>> report = export_model("ae_conv.mnist", "tflite", "exports/ae_conv_int8", quantize="int8")
    >>> print(report.mse_delta_rel)
"""

from export import to_onnx, to_saved_model, to_tflite  # noqa: F401  (register the formats)
from export.exporter import ExportValidationError, export_model
from export.formats import FORMATS, ExportFormat, Runner, get_format, register_format
from export.graph import PARTS
from export.report import REPORT_FILE, ExportReport, format_table
from export.runtime import load_artifact

__all__ = [
    "FORMATS",
    "PARTS",
    "REPORT_FILE",
    "ExportFormat",
    "ExportReport",
    "ExportValidationError",
    "Runner",
    "export_model",
    "format_table",
    "get_format",
    "load_artifact",
    "register_format",
]
