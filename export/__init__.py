"""Export autoencoder parts and anomaly detectors to SavedModel, TFLite/LiteRT and ONNX, each checked in its runtime.

Formats are the modules of ``export/formats/``, registered in :data:`FORMATS`
when this package is imported.

Example:
    >>> from export import export_model
    >>> report = export_model("ae_conv.mnist", "tflite", "exports/ae_conv_int8.tflite", quantize="int8")
    >>> print(report.mse_delta_rel)
"""

from export.registry import (
    FORMATS,
    Calibrated,
    ExportFormat,
    FormatOption,
    QuantizeOption,
    Runner,
    RuntimeVariant,
    default_mse_rtol,
    get_format,
    import_formats,
    quantize_choices,
    register_format,
    runtime_variants,
    unregister_format,
)

import_formats()

from export.exporter import ExportValidationError, export_model  # noqa: E402
from export.graph import PARTS  # noqa: E402
from export.report import REPORT_FILE, REPORT_SUFFIX, ExportReport, format_table, quantization_table  # noqa: E402
from export.runtime import find_artifact, load_artifact, read_metadata  # noqa: E402

__all__ = [
    "FORMATS",
    "PARTS",
    "REPORT_FILE",
    "REPORT_SUFFIX",
    "ExportFormat",
    "ExportReport",
    "ExportValidationError",
    "Calibrated",
    "FormatOption",
    "QuantizeOption",
    "Runner",
    "RuntimeVariant",
    "default_mse_rtol",
    "export_model",
    "find_artifact",
    "format_table",
    "get_format",
    "import_formats",
    "load_artifact",
    "quantization_table",
    "quantize_choices",
    "read_metadata",
    "register_format",
    "runtime_variants",
    "unregister_format",
]
