"""Inference throughput and latency of one model part across Keras and the exported runtimes.

    python -m benchmarks.inference_throughput --models ae_dense.mnist ae_conv.mnist \\
        --parts encoder autoencoder --batch-sizes 1 32 256 4096
    aezoo bench infer ...        (the same options)

Runtimes: Keras ``predict``, the Keras graph in a compiled ``tf.function``, the
same with XLA (``jit_compile=True``), and every runtime variant of the export
format registry, exported by ``export.export_model`` and validated before they
are timed (today SavedModel, onnxruntime, LiteRT float32 and LiteRT
full-integer int8). A model is a pretrained entry or a registered name
(random weights). Each cell: warm-up calls, then timed calls of one batch
for 0.6 s in three rounds interleaved with the other runtimes (at least 5 calls
a round); median and p90 latency per call, samples/s from the median. FLOPs per sample come from the part's layers
(``benchmarks.flops``) and % of peak is against the matmul probe of this run.

Latency floor: at batch 1 a dense part reads all its weights every call. The
same run probes read bandwidth for a buffer of the part's weight bytes (4 per
weight in float32 runtimes, 1 in int8 ones) and each batch-1 row's note gives
``floor = weight bytes / bandwidth`` and the latency as a multiple of it; the
batch-1 rows also go to ``OUT_floor.md``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.common import (
    add_common_arguments,
    make_row,
    print_rows,
    save,
    with_oom_retry,
)
from benchmarks.flops import part_flops
from benchmarks.runners import load_model, runners, runtimes, weight_bytes
from benchmarks.runs import add_backend_arguments
from zoo.utils.cliargs import positive_int, script_main
from zoo.utils.timing import time_calls

if TYPE_CHECKING:
    from zoo import Autoencoder

def images(model: Autoencoder, n: int) -> np.ndarray:
    """``n`` real images (the bundled sample, tiled) shaped for ``model``."""
    from export.plan import sample_images

    x = sample_images(model.data_shape)
    if x is None:
        x = np.random.default_rng(0).random((1000, *model.data_shape), dtype=np.float32)
    return np.resize(x, (n, *x.shape[1:])).astype(np.float32)


def first_round(fn: Callable[[np.ndarray], object], inputs: np.ndarray, min_seconds: float,
                batch_size: int) -> dict:
    """Warm up and time ``fn`` on one batch; out-of-memory errors surface here and halve the batch."""
    xb = np.ascontiguousarray(inputs[:batch_size])
    return {"times": time_calls(lambda: fn(xb), warmup=3, min_seconds=min_seconds), "batch_size": batch_size,
            "x": xb}


def measure(models: Sequence[str], parts: Sequence[str], runtimes: Sequence[str], batch_sizes: Sequence[int],
            device: str, peaks: dict[str, float], env: dict, min_seconds: float = 0.5,
            rounds: int = 3) -> list[dict]:
    """One row per model x part x runtime x batch size.

    At each batch size the runtimes take turns, ``rounds`` times, each for
    ``min_seconds / rounds``, so a shared machine's drift hits them alike.

    Args:
        models: Pretrained entries or registered names (random weights).
        parts: ``encoder``, ``decoder`` or ``autoencoder``.
        runtimes: Names from :func:`runtimes`.
        batch_sizes: Batch sizes to time.
        device: Device Keras runs on (``cpu`` or ``gpu``).
        peaks: Matmul peak GFLOP/s by precision (float32 is used).
        env: Row environment fields.
        min_seconds: Timed seconds per cell, over all rounds.
        rounds: Interleaved rounds per batch size.

    Returns:
        The rows, in the order they were printed.
    """
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="aezoo-bench-"))
    try:
        for name in models:
            model = load_model(name)
            x_all = images(model, max(batch_sizes))
            for part in parts:
                flops = part_flops(model, part)
                inputs = model.get_part("encoder").predict(x_all, batch_size=1024, verbose=0) if part == "decoder" else x_all
                runs = runners(model, part, runtimes, device, workdir / name)
                slice_s = min_seconds / rounds
                for b in batch_sizes:
                    cells = {rt: with_oom_retry(partial(first_round, fn, inputs, slice_s), b)
                             for rt, (fn, *_) in runs.items()}
                    for _ in range(rounds - 1):
                        for rt, (fn, *_) in runs.items():
                            x = cells[rt]["x"]
                            cells[rt]["times"] += time_calls(lambda fn=fn, x=x: fn(x), warmup=1, min_seconds=slice_s)
                    for rt, (_, runs_on, precision, export_note) in runs.items():
                        cell = cells[rt]
                        note = "; ".join(filter(None, [cell.get("note"), export_note, f"{rounds} interleaved rounds",
                                                       "% of peak is against the float32 matmul peak"]))
                        row = make_row("inference", cell["times"], cell["batch_size"], flops, peaks["float32"], env,
                                       model=name, part=part, runtime=rt, device=runs_on, precision=precision,
                                       xla=rt == "keras_xla", requested_batch_size=b, note=note,
                                       backend=keras_backend())
                        row["_weight_bytes"] = weight_bytes(model, part, precision)
                        rows.append(row)
                        print_rows([row], header=len(rows) == 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks.inference_throughput`` and ``aezoo bench infer``."""
    from export import PARTS

    names = runtimes()
    parser.add_argument("--models", nargs="+", default=["ae_dense.mnist", "ae_conv.mnist"],
                        help="pretrained entries or registered names")
    parser.add_argument("--parts", nargs="+", default=["encoder", "autoencoder"], choices=list(PARTS))
    parser.add_argument("--runtimes", nargs="+", default=list(names), choices=names,
                        help="default: all of " + ", ".join(names))
    parser.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[1, 32, 256, 4096])
    parser.add_argument("--min-seconds", type=float, default=0.6,
                        help="timed seconds per cell, split over the rounds (at least 5 calls per round)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="interleaved rounds of all runtimes per batch size")
    add_backend_arguments(parser)
    add_common_arguments(parser, "inference_throughput")


def keras_backend() -> str:
    """The Keras backend these rows ran under (``series_label`` needs a string)."""
    import keras

    return keras.backend.backend()


def add_floors(rows: list[dict], env: dict) -> tuple[list[dict], list[str]]:
    """Probe read bandwidth at each batch-1 row's weight bytes and note the floor in the row.

    Returns:
        ``(the probe's rows, a Markdown table of the batch-1 rows against their floors)``.
    """
    from benchmarks.peak import read_bandwidth

    probes: dict[int, tuple[float, list[dict]]] = {}
    table = ["| model | part | runtime | precision | weight bytes | read GB/s | floor ms | batch-1 ms | x floor |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        nbytes = row.pop("_weight_bytes", None)
        if row["batch_size"] != 1 or nbytes is None:
            continue
        if nbytes not in probes:
            probes[nbytes] = read_bandwidth(nbytes, env)
        bandwidth = probes[nbytes][0]
        floor = nbytes / bandwidth / 1e6
        ratio = row["latency_ms_median"] / floor
        row["note"] = "; ".join(filter(None, [row["note"], f"floor {floor:.4f} ms ({nbytes} weight bytes / "
                                              + f"{bandwidth:.1f} GB/s read): {ratio:.2f}x floor"]))
        table.append(f"| {row['model']} | {row['part']} | {row['runtime']} | {row['precision']} | {nbytes} | "
                     + f"{bandwidth:.1f} | {floor:.4f} | {row['latency_ms_median']:.4f} | {ratio:.2f} |")
    return [r for _, probe_rows in probes.values() for r in probe_rows], table


def run(args: argparse.Namespace) -> int:
    """Probe the peak, time every cell, probe bandwidth for the batch-1 floors, print and write; the exit code."""
    from benchmarks.peak import start

    if args.backend or args.peers:
        from benchmarks.infer_backends import run_backends  # a worker per backend, and the PyTorch peers

        return run_backends(args)

    device, env, peaks, peak_rows = start(args)
    print(f"matmul peak: {peaks['float32']:.1f} GFLOP/s (float32)")
    rows = measure(args.models, args.parts, args.runtimes, args.batch_sizes, device, peaks, env, args.min_seconds,
                   args.rounds)
    bandwidth_rows, table = add_floors(rows, env)
    print("\n".join(table))
    floor_md = Path(args.out).with_name(Path(args.out).name + "_floor.md")
    floor_md.parent.mkdir(parents=True, exist_ok=True)
    floor_md.write_text("Batch-1 latency against the floor weight bytes / read bandwidth (same run):\n\n"
                        + "\n".join(table) + "\n")
    return save(peak_rows + bandwidth_rows + rows, args.out, f"inference throughput ({device}, {env['cpu']})")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m benchmarks.inference_throughput``."""
    return script_main(add_arguments, run, argv, prog="python -m benchmarks.inference_throughput", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
