"""``aezoo export`` and ``aezoo encode``: the export package on the command line.

The choices of ``--format``, ``--quantize`` and ``--runtime``, and one flag per
option a format declares (ONNX's ``--opset``), come from ``export.FORMATS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.utils.atomic import save_array
from zoo.utils.cliargs import add_split_argument, positive_int
from zoo.utils.progress import Steps

#: ``aezoo encode --runtime`` value that runs the Keras model itself.
KERAS = "keras"


def read_images(source: str, shape: tuple[int, ...] | None = None,
                value_range: tuple[float, float] | None = (0.0, 1.0), split: str | None = None) -> tuple[np.ndarray, str]:
    """Images as float32 and the split read from a data spec: ``sample:NAME``, a dataset's ``split``
    (default test), or a path.

    Paths are ``.npy``/``.npz``/``.csv`` files or image folders (resized to
    ``shape``). With ``shape``, the data go through the input contract
    (``zoo.utils.inputs.as_model_input``): a missing channel axis is added, any other
    layout is refused (never reshaped), floats are checked against ``value_range``.
    """
    from zoo.data import datasets as data
    from zoo.data.images import image_read_options
    from zoo.utils.inputs import as_model_input

    size, color = image_read_options(shape)
    loaded = data.data_spec_or_path(source).load(split, default="test", image_size=size, color=color)
    x = loaded.x
    if len(x) == 0:
        raise ValueError(f"{source} is empty: it holds no images.")
    return as_model_input(x, shape, what=f"--input {source}" if shape else str(source),
                          value_range=value_range), loaded.split


def _declared_options() -> dict[str, tuple]:
    """Option name -> (its declaration, the formats that declare it), over every registered format."""
    from export import FORMATS

    out: dict[str, tuple] = {}
    for fmt in FORMATS.values():
        for name, option in fmt.options.items():
            out.setdefault(name, (option, []))[1].append(fmt.title or fmt.name)
    return out


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aezoo export``."""
    from export import FORMATS, PARTS, quantize_choices

    offers = "; ".join(f"{fmt.title}: {', '.join(fmt.quantize)}" for fmt in FORMATS.values() if fmt.quantize)
    parser.add_argument("target", metavar="NAME_OR_PATH",
                        help="pretrained name, .keras file or run folder, or a detector folder (aezoo anomaly fit)")
    parser.add_argument("--format", required=True, choices=[*FORMATS, "all"],
                        help="format, or all formats (that offer --quantize, if given)")
    # The choices are the model's (export.graph.model_parts): a VQ-VAE adds its own; unknown ones are
    # refused, listing them, once the model is loaded.
    parser.add_argument("--part", help=f"one of {', '.join(PARTS)} (default encoder) or the model's own "
                        + "(VQ-VAE: encoder_indices, index_decoder); a detector exports images -> scores, "
                        + "error_maps (no --part)")
    parser.add_argument("--quantize", choices=quantize_choices(), help=offers)
    parser.add_argument("--calibration-data", help="images (.npy/.npz/image folder/sample:NAME) to calibrate "
                        + f"{'/'.join(quantize_choices(calibrated_only=True))} (default: the bundled sample)")
    fallback = "; ".join(f"{fmt.title} {', '.join(fmt.fallback)}" for fmt in FORMATS.values() if fmt.fallback)
    parser.add_argument("--fallback", choices=["auto"], help="if the int8 export misses --mse-rtol, keep the layers "
                        + f"with the largest int8 error in float until it holds ({fallback})")
    for name, (option, owners) in _declared_options().items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=option.type,
                            help=f"{', '.join(owners)} only: {option.help}")
    parser.add_argument("--atol", type=float, help="max abs error vs Keras (default 1e-5 for float32)")
    parser.add_argument("--mse-rtol", type=float, help="allowed relative growth of reconstruction MSE when quantized")
    parser.add_argument("--out", required=True, help="folder; each export is the file NAME_PART[-QUANT].onnx / "
                        + ".tflite with its report beside it (SavedModel: a folder NAME_PART[-QUANT].saved_model)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing exports")


def cmd_export(args: argparse.Namespace) -> int:
    """Export one model part to one or all formats and print the reports."""
    from export import FORMATS, ExportValidationError, export_model, format_table, quantization_table
    from export.publish import export_name
    from export.target import resolve_target

    formats = list(FORMATS) if args.format == "all" else [args.format]
    target = resolve_target(args.target, part=args.part)  # loaded once, exported to every format
    calibration = read_images(args.calibration_data)[0] if args.calibration_data else None
    options = {key: getattr(args, key) for key in _declared_options()}
    reports, failed = [], []
    bar = Steps(len(formats), f"export {target.name}.{target.part}")  # on stderr, in a terminal only
    for fmt in formats:
        if args.format == "all":
            if args.quantize and args.quantize not in FORMATS[fmt].quantize:
                continue  # --format all --quantize int8 means: every format that offers int8
            own = {k: v for k, v in options.items() if k in FORMATS[fmt].options}
        else:
            own = options  # an option this format does not declare is an error
        path = Path(args.out) / export_name(target.name, target.part, FORMATS[fmt], args.quantize)
        bar.start(fmt)
        try:
            reports.append(export_model(target, fmt, path, quantize=args.quantize,
                                        calibration_data=calibration, atol=args.atol, mse_rtol=args.mse_rtol,
                                        overwrite=args.overwrite,
                                        fallback=args.fallback if args.quantize in FORMATS[fmt].fallback else None,
                                        **own))
        except ExportValidationError as err:
            reports.append(err.report)
            failed.append(str(err))
        bar.done()
    bar.close()
    print(format_table(reports))
    for report in reports:
        if report.quantization.get("layers"):
            print(quantization_table(report))
        if report.passed:
            print(f"wrote {report.path}")
        if report.passed and report.threshold is not None:
            print(f"  threshold {report.threshold:.6g} ({report.metadata['detector']['threshold_method']}) is in "
                  + "its metadata, not its graph: flag an input when its score is above it")
    if failed:
        raise ValueError(" | ".join(failed))
    return 0


def add_encode_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aezoo encode``."""
    from export import FORMATS

    parser.add_argument("target", metavar="NAME_OR_PATH",
                        help="pretrained name, .keras file, run folder, or an export (folder, .onnx, .tflite, ...)")
    parser.add_argument("--input", required=True, help=".npy, .npz or image folder, or sample:NAME")
    parser.add_argument("--output", required=True, help="where to write the codes (.npy)")
    add_split_argument(parser, "test", "--input")
    parser.add_argument("--runtime", choices=[KERAS, *FORMATS],
                        help="keras (default for models), or export the encoder and run it in this format's runtime")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--convert-rgb", action="store_true",
                        help="models of any image size: convert grayscale/RGBA/palette images to RGB instead of refusing them")
    parser.add_argument("--pad", action="store_true", help="models of any image size (Tiny AutoEncoders): pad "
                        + "images at the bottom and right to multiples of the down factor (default: refuse them)")


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode a file or image folder with a model or an exported artifact; save the codes."""
    import tempfile

    from aezoo.latent_commands import Part, encode_any_size, is_dynamic, keras_part
    from export import export_model, find_artifact, load_artifact, read_metadata

    target = Path(args.target)
    if target.exists() and not (target.suffix == ".keras" or (target / "model.keras").exists()):
        fmt, _ = find_artifact(target)  # an exported artifact: its format decides the runtime
        if args.runtime not in (None, fmt.name):
            raise ValueError(f"{target} is a {fmt.name} export; it cannot run with --runtime {args.runtime}.")
        runner = load_artifact(target)
        meta = read_metadata(target)
        model, down, name = None, int(meta.get("down") or 1), meta.get("model_name", target.name)
    else:
        from export.target import resolve_model

        model, card = resolve_model(args.target)
        down, name = int(getattr(model, "down", 1)), card.name if card is not None else target.stem
        runtime = args.runtime or KERAS
        if runtime == KERAS:
            runner = None
        else:
            with tempfile.TemporaryDirectory(prefix="aezoo-encode-") as tmp:
                report = export_model(model, runtime, Path(tmp) / "encoder", card=card)
                runner = load_artifact(report.path)  # loaded into memory; the files can go
            print(f"exported and validated the encoder in {report.runtime} "
                  + f"(max abs err {report.max_abs_error:.2e}); the artifact was temporary")
    shape = tuple(runner.input_shape) if runner is not None else model.data_shape
    if is_dynamic(shape):  # any image size: one size at a time
        part = (Part(runner, shape, down, runner.runtime, name) if runner is not None
                else keras_part(model, "encoder", name))
        return encode_any_size(part, args.input, args.output, args.pad, args.batch_size, args.convert_rgb)
    x, split = read_images(args.input, shape, value_range=model.input_range if runner is None else (0.0, 1.0),
                    split=args.split)
    if runner is None:
        codes, used = model.encode(x, batch_size=args.batch_size), KERAS
    else:
        codes = np.concatenate([runner(x[i:i + args.batch_size]) for i in range(0, len(x), args.batch_size)])
        used = runner.runtime
    out = save_array(args.output, codes)
    print(f"encoded {len(x)} inputs {shape} ({split} split of {args.input}) -> codes {codes.shape} with {used}; wrote {out}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``export`` and ``encode`` to the ``aezoo`` parser."""
    from export import FORMATS

    titles = [fmt.title or fmt.name for fmt in FORMATS.values()]
    add_export_arguments(sub.add_parser(
        "export", help=f"export a model part to {', '.join(titles[:-1])} or {titles[-1]} and validate it"))
    add_encode_arguments(sub.add_parser("encode", help="encode images with a model or an exported artifact"))
    return {"export": cmd_export, "encode": cmd_encode}
