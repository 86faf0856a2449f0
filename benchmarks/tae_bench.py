"""Tiny AutoEncoder (TAEF2, ``tae.flux2``) inference against its PyTorch reference: every runtime, one run.

    python -m benchmarks.tae_bench                          # CPU: 256, 512, 1024 at batch 1, batch 4 at 256
    python -m benchmarks.tae_bench --sizes 512 --rounds 12  # one size, more rounds
    python -m benchmarks.tae_bench --quick --sizes 64       # a smoke run (the tests)

Same weights, same images, same run. The weights are the original float16
checkpoints (``taef2_encoder.pth``/``taef2_decoder.pth`` in ``--checkpoints``)
for the PyTorch reference and the converted pretrained entry ``tae.flux2`` for
every aezoo runtime (the same numbers, cast to float32); where the checkpoints
are absent the reference gets the entry's weights back in the PyTorch layout
(``zoo.pretrained.convert.stored_state_dict``), and with ``--random-weights`` everything
gets seeded random weights of the same architecture. The images are
scikit-learn's sample photographs china.jpg and flower.jpg (CC BY 2.0),
centre-cropped to a square and resized to each size; the decoder decodes the
reference encoder's latents of the same images.

Runtimes (``benchmarks.tae_worker.RUNTIMES``), each in its own worker process (Keras picks its
backend at import; one process per runtime also makes its peak resident memory
its own): the PyTorch reference (``benchmarks.peers.tae_torch``) eager and
``torch.compile`` (static shapes, one compilation per size), Keras on
TensorFlow (``tf.function``), JAX (``jax.jit`` of ``stateless_call``) and PyTorch
(eager), onnxruntime float32 and static int8, LiteRT float32, float16 and int8;
the exports are made by ``export.export_model`` (dynamic batch and spatial
size, validated there) in the TensorFlow worker, and run in workers that load
only their runtime. Every framework gets ``--threads`` CPU threads (torch
threads, TensorFlow intra- and inter-op pools, onnxruntime's intra-op pool,
LiteRT's ``num_threads``, OpenMP/MKL variables; XLA's CPU pool takes the
machine's cores), recorded in each row.

For each part, size and batch the runtimes' cells are built (and their output
checked against the reference eager output: ``max_abs_diff``), warmed up, then
timed in interleaved rounds: every round times each runtime in turn, so a
shared machine's drift hits all alike. Rows have the keys of
``benchmarks.common.ROW_KEYS`` plus ``benchmarks.tae_run.EXTRA_KEYS``; FLOPs and bytes per
image are counted from a fixed-size build's layers (``benchmarks.flops``:
convolutions only), and % of roofline is against this run's own probes
(``benchmarks.probes``: matmul peak and copy bandwidth through PyTorch,
TensorFlow and JAX). ``peak_memory_gb`` is the worker's peak resident set
during the cell's rounds (``/proc/self/clear_refs`` resets it each round), so it
includes the framework's own footprint.

Modules: ``benchmarks.tae_worker`` (a worker process per runtime),
``benchmarks.tae_run`` (the run: probes, exports, interleaved rounds, rows) and
``benchmarks.tae_report`` (files, figure, Markdown table); this one is the command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import results_io
from benchmarks.tae_report import plot_latency, report, write_rows
from benchmarks.tae_run import run_benchmark
from benchmarks.tae_worker import PARTS, RUNTIMES

RESULTS = results_io.RESULTS / "tae"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--runtimes", nargs="+", choices=list(RUNTIMES), default=list(RUNTIMES))
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="square sizes (default 256 512 1024)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--throughput-batch", type=int, default=None,
                        help="batch at the smallest size (default 4; --quick: 2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per group (default 10)")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="timed seconds per cell and round, at least one call (default 0.5)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every runtime (0: their defaults)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--checkpoints", default="/tmp/taesd",
                        help="folder with taef2_encoder.pth / taef2_decoder.pth for the reference (optional)")
    parser.add_argument("--random-weights", action="store_true", help="seeded random weights instead of tae.flux2")
    parser.add_argument("--peak-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--precisions", nargs="+", choices=["float32", "bfloat16"], default=["float32"],
                        help="bfloat16: the reference and Keras-JAX/PyTorch runtimes only")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64x64, 2 rounds, small probes")
    parser.add_argument("--reuse-exports", default=None, metavar="DIR",
                        help="use the exports an earlier run left in DIR (its record's workdir) instead of exporting")
    parser.add_argument("--report", default=None, metavar="JSON",
                        help="print the Markdown table of a results file instead of running (with --figure PNG)")
    parser.add_argument("--figure", default=None, help="with --report: write the latency figure here")
    parser.add_argument("--out", default=None, help="output path without suffix (default benchmarks/results/tae/cpu)")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m benchmarks.tae_bench``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tae_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.report, args.figure))
        return 0
    if args.sizes and any(s % 8 for s in args.sizes):
        parser.error(f"--sizes must be multiples of 8. Received: {args.sizes}")
    quick = args.quick
    sizes = args.sizes or ([64] if quick else [256, 512, 1024])
    throughput = args.throughput_batch if args.throughput_batch is not None else (2 if quick else 4)
    rounds = args.rounds or (2 if quick else 10)
    min_seconds = args.min_seconds if args.min_seconds is not None else (0.02 if quick else 0.5)
    peak_sizes = args.peak_sizes or ([256] if quick else [1024, 2048])
    out = Path(args.out) if args.out else RESULTS / ("quick" if quick else "cpu")
    rows, record = run_benchmark(args.runtimes, sizes, throughput, rounds, min_seconds, args.device,
                                 args.threads or None, "random" if args.random_weights else "pretrained",
                                 args.checkpoints, peak_sizes, args.parts, args.precisions,
                                 reuse_exports=args.reuse_exports)
    record["command"] = "python -m benchmarks.tae_bench " + " ".join(argv)
    files = write_rows(record.pop("probe_rows") + rows, out, record)
    plot_latency(rows, out.with_suffix(".png"), f"tae.flux2 vs its PyTorch reference ({args.device}, "
                 + f"{args.threads or 'default'} threads)")
    print("wrote " + ", ".join(map(str, [*files, out.with_suffix(".png")])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
