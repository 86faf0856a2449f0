"""``aezoo export`` and ``aezoo encode``: the export package on the command line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

RUNTIMES = {"keras": None, "onnx": "onnx", "tflite": "tflite", "saved_model": "saved_model"}


def cmd_export(args: argparse.Namespace) -> int:
    """Export one model part to one or all formats and print the reports."""
    from export import FORMATS, ExportValidationError, export_model, format_table
    from export.exporter import resolve_model

    formats = list(FORMATS) if args.format == "all" else [args.format]
    model, card = resolve_model(args.target)
    name = card.name if card is not None else Path(args.target).stem
    calibration = _read_inputs(args.calibration_data) if args.calibration_data else None
    reports, failed = [], []
    for fmt in formats:
        if args.quantize and args.quantize not in FORMATS[fmt].quantize and args.format == "all":
            continue  # --format all --quantize int8 means: every format that offers int8
        suffix = f"-{args.quantize}" if args.quantize else ""
        target = Path(args.out) / f"{name}.{args.part}.{fmt}{suffix}"
        try:
            reports.append(export_model(model, fmt, target, part=args.part, quantize=args.quantize,
                                        calibration_data=calibration, opset=args.opset, atol=args.atol,
                                        mse_rtol=args.mse_rtol, overwrite=args.overwrite, card=card))
        except ExportValidationError as err:
            reports.append(err.report)
            failed.append(str(err))
    print(format_table(reports))
    for report in reports:
        if report.passed:
            print(f"wrote {report.path}")
    if failed:
        raise ValueError(" | ".join(failed))
    return 0


def _read_inputs(path: str, shape: tuple[int, ...] | None = None):
    """Images from ``path`` as float32 in [0, 1], reshaped to ``shape`` when only the layout differs."""
    import numpy as np

    from zoo.data import load_user_data, to_unit_range

    x = to_unit_range(load_user_data(path, image_size=tuple(shape[:2]) if shape and len(shape) == 3 else None))
    same_size = x.ndim > 1 and shape is not None and int(np.prod(x.shape[1:])) == int(np.prod(shape))
    if same_size and x.shape[1:] != tuple(shape):
        x = x.reshape((-1, *shape))
    return x


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode a file or image folder with a model or an exported artifact; save the codes."""
    import tempfile

    import numpy as np

    from export import export_model, load_artifact
    from export.runtime import find_artifact
    from zoo.checks import check_batch

    target = Path(args.target)
    if target.exists() and not (target.suffix == ".keras" or (target / "model.keras").exists()):
        fmt, _ = find_artifact(target)  # an exported artifact: its format decides the runtime
        if args.runtime not in (None, fmt.name):
            raise ValueError(f"{target} is a {fmt.name} export; it cannot run with --runtime {args.runtime}.")
        runner = load_artifact(target)
    else:
        from export.exporter import resolve_model

        model, card = resolve_model(args.target)
        runtime = args.runtime or "keras"
        if runtime == "keras":
            runner = None
        else:
            with tempfile.TemporaryDirectory(prefix="aezoo-encode-") as tmp:
                report = export_model(model, RUNTIMES[runtime], Path(tmp) / "encoder", card=card)
                runner = load_artifact(Path(tmp) / "encoder")  # loaded into memory; the files can go
            print(f"exported and validated the encoder in {report.runtime} "
                  + f"(max abs err {report.max_abs_error:.2e}); the artifact was temporary")
    shape = tuple(runner.input_shape) if runner is not None else model.data_shape
    x = _read_inputs(args.input, shape)
    check_batch(x, shape, "encode")
    if runner is None:
        codes, used = model.encode(x, batch_size=args.batch_size), "keras"
    else:
        codes = np.concatenate([runner(x[i:i + args.batch_size]) for i in range(0, len(x), args.batch_size)])
        used = runner.runtime
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, codes)
    print(f"encoded {len(x)} inputs {shape} -> codes {codes.shape} with {used}; wrote {out}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``export`` and ``encode`` to the ``aezoo`` parser."""
    from export.graph import PARTS

    p = sub.add_parser("export", help="export a model part to SavedModel, TFLite or ONNX and validate it")
    p.add_argument("target", metavar="NAME_OR_PATH", help="pretrained name, .keras file or run folder")
    p.add_argument("--format", required=True, choices=["saved_model", "tflite", "onnx", "all"])
    p.add_argument("--part", default="encoder", choices=list(PARTS))
    p.add_argument("--quantize", choices=["float16", "dynamic_int8", "int8", "int16x8"],
                   help="TFLite: float16, dynamic_int8, int8 or int16x8; ONNX: dynamic_int8")
    p.add_argument("--calibration-data", help="images (.npy/.npz/image folder) to calibrate int8/int16x8 "
                   + "(default: the bundled sample)")
    p.add_argument("--opset", type=int, help="ONNX opset")
    p.add_argument("--atol", type=float, help="max abs error vs Keras (default 1e-5 for float32)")
    p.add_argument("--mse-rtol", type=float, help="allowed relative growth of reconstruction MSE when quantized")
    p.add_argument("--out", required=True, help="folder; each export goes in NAME.PART.FORMAT[-QUANT]/")
    p.add_argument("--overwrite", action="store_true", help="replace existing export folders")

    p = sub.add_parser("encode", help="encode images with a model or an exported artifact")
    p.add_argument("target", metavar="NAME_OR_PATH",
                   help="pretrained name, .keras file, run folder, or an export folder / .onnx / .tflite")
    p.add_argument("--input", required=True, help=".npy, .npz or image folder")
    p.add_argument("--output", required=True, help="where to write the codes (.npy)")
    p.add_argument("--runtime", choices=list(RUNTIMES),
                   help="keras (default for models), or export the encoder and run it in this runtime")
    p.add_argument("--batch-size", type=int, default=256)
    return {"export": cmd_export, "encode": cmd_encode}
