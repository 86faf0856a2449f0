"""Inference throughput and latency of one model part across Keras and the exported runtimes.

    python benchmarks/inference_throughput.py --models ae_dense.mnist ae_conv.mnist \\
        --parts encoder autoencoder --batch-sizes 1 32 256 4096

Runtimes: Keras ``predict``, the Keras graph in a compiled ``tf.function``, the
same with XLA (``jit_compile=True``), and the exports of ``export.export_model``
(validated before they are timed): SavedModel, onnxruntime, LiteRT float32 and
LiteRT full-integer int8. A model is a pretrained entry or a registered name
(random weights). Each cell: warm-up calls, then timed calls of one batch
for 0.6 s in three rounds interleaved with the other runtimes (at least 5 calls
a round); median and p90 latency per call, samples/s from the median. FLOPs per sample come from the part's layers
(``benchmarks.flops``) and % of peak is against the matmul probe of this run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import (  # noqa: E402
    add_common_arguments,
    make_row,
    print_rows,
    timed,
    with_oom_retry,
    write_results,
)
from benchmarks.flops import part_flops  # noqa: E402

RUNTIMES = ("keras_predict", "keras_function", "keras_xla", "saved_model", "onnxruntime", "litert", "litert_int8")
# runtime -> (export format, quantize) for the exported ones
EXPORTED = {"saved_model": ("saved_model", None), "onnxruntime": ("onnx", None), "litert": ("tflite", None),
            "litert_int8": ("tflite", "int8")}


def load_model(name: str):
    """A pretrained entry, or a registered model with seeded random weights."""
    import zoo

    if name in zoo.list_pretrained():
        return zoo.load_pretrained(name)
    import keras

    keras.utils.set_random_seed(0)
    return zoo.create_model(name)


def keras_runner(model, part: str, runtime: str, device: str) -> Callable[[np.ndarray], object]:
    """A numpy callable for ``part`` through Keras: ``predict``, a ``tf.function``, or one with XLA."""
    import tensorflow as tf

    from export.graph import PARTS, part_graph

    graph = part_graph(model, part)
    out_name = PARTS[part][1]
    if runtime == "keras_predict":
        return lambda x: graph.predict(x, batch_size=len(x), verbose=0)
    spec = tf.TensorSpec((None, *graph.input_shape[1:]), tf.float32)
    fn = tf.function(lambda x: graph(x, training=False)[out_name], input_signature=[spec],
                     jit_compile=runtime == "keras_xla")
    return lambda x: fn(x).numpy()


def runners(model, part: str, runtimes, device: str, workdir: Path) -> dict[str, tuple[Callable, str, str, str]]:
    """runtime -> (callable, device it runs on, precision, note).

    Exports are validated as usual, except that an int8 export is timed even
    when it misses its accuracy bound: its note gives the reconstruction change.
    """
    from export import export_model, load_artifact
    from export.validate import DEFAULT_MSE_RTOL

    out = {}
    for runtime in runtimes:
        if runtime in EXPORTED:
            fmt, quantize = EXPORTED[runtime]
            report = export_model(model, fmt, workdir / f"{part}.{runtime}", part=part, quantize=quantize,
                                  mse_rtol=1e9 if quantize else None)
            note = ""
            if quantize:
                within = report.mse_delta_rel <= DEFAULT_MSE_RTOL[quantize]
                note = (f"reconstruction MSE {100 * report.mse_delta_rel:+.1f}% vs Keras"
                        + ("" if within else f" (beyond the {100 * DEFAULT_MSE_RTOL[quantize]:g}% export bound)"))
            runs_on = device if runtime == "saved_model" else "cpu"  # our ONNX/LiteRT builds are CPU ones
            out[runtime] = (load_artifact(Path(report.path).parent), runs_on, quantize or "float32", note)
        else:
            out[runtime] = (keras_runner(model, part, runtime, device), device, "float32", "")
    return out


def images(model, n: int) -> np.ndarray:
    """``n`` real images (the bundled sample, tiled) shaped for ``model``."""
    from export.validate import sample_images

    x = sample_images(model.data_shape)
    if x is None:
        x = np.random.default_rng(0).random((1000, *model.data_shape), dtype=np.float32)
    return np.resize(x, (n, *x.shape[1:])).astype(np.float32)


def first_round(fn, inputs, min_seconds, batch_size) -> dict:
    """Warm up and time ``fn`` on one batch; out-of-memory errors surface here and halve the batch."""
    xb = np.ascontiguousarray(inputs[:batch_size])
    return {"times": timed(lambda: fn(xb), warmup=3, min_seconds=min_seconds), "batch_size": batch_size, "x": xb}


def run(models, parts, runtimes, batch_sizes, device, peaks, env, min_seconds=0.5, rounds=3) -> list[dict]:
    """One row per model x part x runtime x batch size.

    At each batch size the runtimes take turns, ``rounds`` times, each for
    ``min_seconds / rounds``, so a shared machine's drift hits them alike.
    """
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="aezoo-bench-"))
    try:
        for name in models:
            model = load_model(name)
            x_all = images(model, max(batch_sizes))
            for part in parts:
                flops = part_flops(model, part)
                inputs = model.encoder.predict(x_all, batch_size=1024, verbose=0) if part == "decoder" else x_all
                runs = runners(model, part, runtimes, device, workdir / name)
                slice_s = min_seconds / rounds
                for b in batch_sizes:
                    cells = {rt: with_oom_retry(partial(first_round, fn, inputs, slice_s), b)
                             for rt, (fn, *_) in runs.items()}
                    for _ in range(rounds - 1):
                        for rt, (fn, *_) in runs.items():
                            x = cells[rt]["x"]
                            cells[rt]["times"] += timed(lambda fn=fn, x=x: fn(x), warmup=1, min_seconds=slice_s)
                    for rt, (_, runs_on, precision, export_note) in runs.items():
                        cell = cells[rt]
                        note = "; ".join(filter(None, [cell.get("note"), export_note, f"{rounds} interleaved rounds",
                                                       "% of peak is against the float32 matmul peak"]))
                        row = make_row("inference", cell["times"], cell["batch_size"], flops, peaks["float32"], env,
                                       model=name, part=part, runtime=rt, device=runs_on, precision=precision,
                                       xla=rt == "keras_xla", requested_batch_size=b, note=note)
                        rows.append(row)
                        print_rows([row], header=len(rows) == 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ae_dense.mnist", "ae_conv.mnist"],
                        help="pretrained entries or registered names")
    parser.add_argument("--parts", nargs="+", default=["encoder", "autoencoder"],
                        choices=["encoder", "decoder", "autoencoder"])
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256, 4096])
    parser.add_argument("--min-seconds", type=float, default=0.6,
                        help="timed seconds per cell, split over the rounds (at least 5 calls per round)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of all runtimes per batch size")
    add_common_arguments(parser, "inference_throughput")
    args = parser.parse_args(argv)

    from benchmarks.peak import start

    device, env, peaks, peak_rows = start(args)
    print(f"matmul peak: {peaks['float32']:.1f} GFLOP/s (float32)")
    rows = run(args.models, args.parts, args.runtimes, args.batch_sizes, device, peaks, env, args.min_seconds,
               args.rounds)
    files = write_results(peak_rows + rows, args.out, f"inference throughput ({device}, {env['cpu']})")
    print("wrote " + ", ".join(map(str, files)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
