"""Dense matmul peak of this device: the roofline every other row is measured against.

    python -m benchmarks.peak [--device cpu|gpu] [--precisions float32 bfloat16] [--peak-sizes 1024 2048]
    aezoo bench peak ...        (the same options)

On a CPU the probe times ``n x n`` float32 matmuls in TensorFlow, NumPy and
onnxruntime and keeps the best (the libraries block differently); on a GPU,
TensorFlow's cuBLAS matmul in each requested precision. ``2 n^3 / time`` is
the peak in GFLOP/s.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from benchmarks.common import (
    PRECISIONS,
    add_common_arguments,
    make_row,
    print_rows,
    row_environment,
    save,
    select_device,
)
from zoo.utils.cliargs import script_main
from zoo.utils.timing import time_calls

CPU_SIZES = (1024, 2048)
#: Times each matmul is probed; rows keep the fastest probe.
PROBE_REPEATS = 3
GPU_SIZES = (4096, 8192)


def _tf_matmul(n: int, precision: str, device: str):
    import tensorflow as tf

    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        a = tf.cast(tf.random.stateless_uniform((n, n), seed=(1, 2)), precision)
        b = tf.cast(tf.random.stateless_uniform((n, n), seed=(3, 4)), precision)

        @tf.function
        def step():
            # Reducing to a scalar forces the matmul to finish without copying n x n back.
            return tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32))

        return lambda: step().numpy()


def _numpy_matmul(n: int):
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    return lambda: a @ b


def _onnx_matmul(n: int):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {k: rng.random((n, n), dtype=np.float32) for k in ("a", "b")}
    return lambda: session.run(None, feeds)


def probe(device: str, precisions: Sequence[str] = ("float32",), sizes: Sequence[int] | None = None,
          env: dict | None = None) -> tuple[dict[str, float], list[dict]]:
    """Peak GFLOP/s per precision (the best over libraries and sizes) and one row per measurement.

    float32 is always probed; another precision's peak is never below it.

    Args:
        device: ``"cpu"`` or ``"gpu"`` (as resolved by :func:`benchmarks.common.select_device`).
        precisions: Precisions to probe besides float32.
        sizes: Matrix sizes ``n`` (default :data:`CPU_SIZES` or :data:`GPU_SIZES`).
        env: Row environment fields (default :func:`benchmarks.common.row_environment`).

    Returns:
        ``(peak GFLOP/s by precision, one row per library, size and precision)``.
    """
    env = env or row_environment()
    sizes = tuple(sizes or (GPU_SIZES if device == "gpu" else CPU_SIZES))
    rows = []
    precisions = sorted(set(precisions) | {"float32"})
    for precision in precisions:
        for n in sizes:
            candidates = {"tensorflow": _tf_matmul(n, precision, device)}
            if device == "cpu" and precision == "float32":
                candidates.update(numpy=_numpy_matmul(n), onnxruntime=_onnx_matmul(n))
            for runtime, fn in candidates.items():
                # The best of PROBE_REPEATS probes: one slowed by a busy machine would understate
                # the peak and put model rows above 100% of it.
                times = min((time_calls(fn, warmup=1, min_iters=3, max_iters=50, min_seconds=0.5)
                             for _ in range(PROBE_REPEATS)), key=lambda t: float(np.median(t)))
                rows.append(make_row("peak", times, n, 2 * n * n, None, env, model="matmul", runtime=runtime,
                                     device=device, precision=precision, xla=False,
                                     note=f"{n}x{n} @ {n}x{n}; batch_size is n"))
    peaks: dict[str, float] = {}
    for row in rows:
        peaks[row["precision"]] = max(peaks.get(row["precision"], 0.0), row["gflops_per_s"])
    if "float32" in peaks:
        # Any precision can run at the float32 rate by upcasting (what CPUs without native
        # bfloat16/float16 units do), so that rate is the floor of every roofline.
        peaks = {k: max(v, peaks["float32"]) for k, v in peaks.items()}
    for row in rows:
        row["peak_gflops_per_s"] = peaks[row["precision"]]
        row["percent_of_peak"] = 100 * row["gflops_per_s"] / peaks[row["precision"]]
    return peaks, rows


#: Reads per timed call of the threaded reader, so that waking the threads is not what gets timed.
_REPEATS = 50


def _threaded_gemv(a: np.ndarray, v: np.ndarray):
    """One matrix-vector product split over every core, repeated ``_REPEATS`` times per call.

    Runtimes read a layer's weights with all cores at batch 1; a one-thread reader
    would set a floor they beat. Each thread keeps BLAS to one thread of its own.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    workers = os.cpu_count() or 1
    chunks = np.array_split(a, workers)
    pool = ThreadPoolExecutor(workers)

    def read(chunk):
        for _ in range(_REPEATS):
            chunk @ v

    limits = threadpool_limits(1)  # for the threads' BLAS calls; set once, it costs about a millisecond

    def call():
        list(pool.map(read, chunks))

    call.release = limits.restore_original_limits
    return call


def read_bandwidth(nbytes: int, env: dict | None = None, min_seconds: float = 0.3) -> tuple[float, list[dict]]:
    """Read bandwidth (GB/s) for a float32 buffer of ``nbytes``: the best of a NumPy sum, a matrix-vector
    product, and the same product split over every core.

    A batch-1 dense layer reads each weight once per call, as a matrix-vector
    product does, so ``weight bytes / this bandwidth`` is the floor of its latency.
    A buffer that fits in cache is read at cache speed: probe it at the model's size.

    Returns:
        ``(best GB/s, one row per reader)``.
    """
    env = env or row_environment()
    cols = 256
    rows_n = max(1, -(-max(nbytes, 4 * cols) // (4 * cols)))
    a = np.random.default_rng(0).random((rows_n, cols), dtype=np.float32)
    v = np.ones(cols, dtype=np.float32)
    rows = []
    readers = {"numpy_sum": lambda: a.sum(), "numpy_gemv": lambda: a @ v}
    readers["threaded_gemv"] = _threaded_gemv(a, v)  # last: it holds BLAS to one thread until released
    for reader, fn in readers.items():
        times = time_calls(fn, warmup=3, min_iters=10, max_iters=2000, min_seconds=min_seconds)
        if reader == "threaded_gemv":
            fn.release()
            times = [t / _REPEATS for t in times]
        row = make_row("bandwidth", times, 1, None, None, env, model="read", runtime=reader, device="cpu",
                       precision="float32", xla=False, config=f"{a.nbytes} B")
        row["note"] = f"{a.nbytes / row['latency_ms_median'] / 1e6:.2f} GB/s reading {a.nbytes} bytes"
        row["bandwidth_gb_per_s"] = a.nbytes / row["latency_ms_median"] / 1e6
        rows.append(row)
    best = max(a.nbytes / r["latency_ms_median"] / 1e6 for r in rows)
    return best, rows


def start(args: argparse.Namespace, precisions: Sequence[str] = ("float32",)) -> tuple[str, dict, dict, list[dict]]:
    """What every benchmark does first: resolve ``--device``, record the environment, probe the peak.

    Args:
        args: Parsed options with ``device`` and ``peak_sizes`` (see ``add_common_arguments``).
        precisions: Precisions the benchmark will run in.

    Returns:
        ``(device, row environment fields, peaks by precision, the probe's rows)``.
    """
    device = select_device(args.device)
    env = row_environment()
    peaks, rows = probe(device, precisions, args.peak_sizes, env)
    return device, env, peaks, rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks.peak`` and ``aezoo bench peak``."""
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=PRECISIONS)
    add_common_arguments(parser, "peak")


def run(args: argparse.Namespace) -> int:
    """Probe the peak, print and write the rows; the exit code."""
    device, _, peaks, rows = start(args, args.precisions)
    print_rows(rows, header=True)
    print("peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    return save(rows, args.out, f"matmul peak probe ({device})")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m benchmarks.peak``."""
    return script_main(add_arguments, run, argv, prog="python -m benchmarks.peak", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
