"""Dense matmul peak of this device: the roofline every other row is measured against.

    python benchmarks/peak.py [--device cpu|gpu] [--precisions float32 bfloat16] [--peak-sizes 1024 2048]

On a CPU the probe times ``n x n`` float32 matmuls in TensorFlow, NumPy and
onnxruntime and keeps the best (the libraries block differently); on a GPU,
TensorFlow's cuBLAS matmul in each requested precision. ``2 n^3 / time`` is
the peak in GFLOP/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import (  # noqa: E402
    add_common_arguments,
    environment,
    make_row,
    print_rows,
    select_device,
    timed,
    write_results,
)

CPU_SIZES = (1024, 2048)
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


def probe(device: str, precisions=("float32",), sizes=None, env: dict | None = None) -> tuple[dict, list[dict]]:
    """Peak GFLOP/s per precision (the best over libraries and sizes) and one row per measurement.

    float32 is always probed; another precision's peak is never below it.
    """
    env = env or environment()
    sizes = tuple(sizes or (GPU_SIZES if device == "gpu" else CPU_SIZES))
    rows = []
    precisions = sorted(set(precisions) | {"float32"})
    for precision in precisions:
        for n in sizes:
            candidates = {"tensorflow": _tf_matmul(n, precision, device)}
            if device == "cpu" and precision == "float32":
                candidates.update(numpy=_numpy_matmul(n), onnxruntime=_onnx_matmul(n))
            for runtime, fn in candidates.items():
                times = timed(fn, warmup=1, min_iters=3, max_iters=50, min_seconds=0.5)
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


def start(args: argparse.Namespace, precisions=("float32",)) -> tuple[str, dict, dict, list[dict]]:
    """What every benchmark does first: resolve ``--device``, record the environment, probe the peak.

    Returns:
        ``(device, environment, peaks by precision, the probe's rows)``.
    """
    device = select_device(args.device)
    env = environment()
    peaks, rows = probe(device, precisions, args.peak_sizes, env)
    return device, env, peaks, rows


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", nargs="+", default=["float32"],
                        choices=["float32", "float16", "bfloat16"])
    add_common_arguments(parser, "peak")
    args = parser.parse_args(argv)
    device, _, peaks, rows = start(args, args.precisions)
    print_rows(rows, header=True)
    print("peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    write_results(rows, args.out, f"matmul peak probe ({device})", x="batch_size")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
