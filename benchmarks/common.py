"""What every benchmark shares: the row schema, the environment fields, OOM retries and output files."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from pathlib import Path

from benchmarks.results_io import RESULTS, write_csv, write_json
from zoo.utils.environment import environment

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Precisions a benchmark can run in (float16/bfloat16 as Keras mixed precision).
PRECISIONS = ("float32", "float16", "bfloat16")

#: Every row of every benchmark has exactly these keys (None where a value does not apply).
ROW_KEYS = [
    "benchmark", "model", "part", "backend", "runtime", "config", "device", "precision", "xla",
    "steps_per_execution", "batch_size", "requested_batch_size", "iterations", "samples_per_s", "latency_ms_median",
    "latency_ms_p90", "flops_per_sample", "gflops_per_s", "peak_gflops_per_s", "percent_of_peak",
    "bytes_per_sample", "bandwidth_gb_per_s", "roofline_gflops_per_s", "percent_of_roofline", "peak_memory_gb",
    "vs_best_peer", "note",
    "cpu", "cpu_cores", "gpu", "gpu_memory_gb", "tensorflow", "keras", "jax", "torch", "onnxruntime",
    "ai_edge_litert", "python", "platform",
]


def row_environment(env: dict | None = None) -> dict:
    """The flat environment fields of a row, taken from :func:`zoo.utils.environment.environment`.

    Args:
        env: An environment record (default: this process's).

    Returns:
        The row's ``backend`` (Keras'), ``cpu``, ``cpu_cores``, ``gpu``, ``gpu_memory_gb``, version, ``python`` and ``platform`` keys.
    """
    env = env or environment()
    machine, versions = env["machine"], env["versions"]
    memory = machine.get("accelerator_memory_gb") or [None]
    return {
        "backend": env.get("keras_backend"), "cpu": machine["cpu_model"], "cpu_cores": machine["cpu_count"],
        "gpu": ", ".join(machine["accelerators"]) or None, "gpu_memory_gb": memory[0],
        "tensorflow": versions.get("tensorflow"), "keras": versions.get("keras"), "jax": versions.get("jax"),
        "torch": versions.get("torch"), "onnxruntime": versions.get("onnxruntime"), "ai_edge_litert": versions.get("ai-edge-litert"),
        "python": env["python"], "platform": machine["platform"],
    }


def select_device(choice: str) -> str:
    """Resolve ``auto|cpu|gpu`` through this process' Keras backend (``benchmarks.backends.select_device``)."""
    from benchmarks.backends import select_device as through_backend

    return through_backend(choice)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an out-of-memory error of TensorFlow, onnxruntime or Python."""
    text = f"{type(err).__name__} {err}".lower()
    return isinstance(err, MemoryError) or any(
        key in text for key in ("resourceexhausted", "out of memory", "oom", "failed to allocate"))


def with_oom_retry(run: Callable[[int], dict], batch_size: int) -> dict:
    """``run(batch_size)``, halving the batch size after each out-of-memory error (down to 1)."""
    size, notes = batch_size, []
    while True:
        try:
            row = run(size)
        except Exception as err:  # noqa: BLE001 - only OOM is retried, anything else is re-raised
            if not is_out_of_memory(err) or size == 1:
                raise
            notes.append(f"out of memory at batch {size}")
            size //= 2
            continue
        row["requested_batch_size"] = batch_size
        if notes:
            row["note"] = "; ".join([*notes, row.get("note") or ""]).strip("; ")
        return row


def make_row(benchmark: str, times: list[float], batch_size: int, flops_per_sample: int | None,
             peak: float | None, env: dict, **fields) -> dict:
    """A full row from per-call (or per-step) times: medians, p90, throughput and roofline."""
    median = statistics.median(times)
    gflops = flops_per_sample * batch_size / median / 1e9 if flops_per_sample else None
    row = dict.fromkeys(ROW_KEYS)
    row.update(env)
    row.update(
        benchmark=benchmark, batch_size=batch_size, requested_batch_size=batch_size, iterations=len(times),
        samples_per_s=batch_size / median, latency_ms_median=1e3 * median,
        latency_ms_p90=1e3 * percentile(times, 90), flops_per_sample=flops_per_sample, gflops_per_s=gflops,
        peak_gflops_per_s=peak, percent_of_peak=100 * gflops / peak if gflops and peak else None,
    )
    unknown = set(fields) - set(ROW_KEYS)
    if unknown:
        raise KeyError(f"Unknown row keys {sorted(unknown)}; the schema is benchmarks.common.ROW_KEYS.")
    row.update(fields)
    return row


def write_results(rows: list[dict], out: str | os.PathLike, title: str, x: str = "batch_size") -> list[Path]:
    """Write ``out.csv``, ``out.json`` and ``out.png`` (samples/s against batch size, one line per runtime)."""
    out = Path(out)
    write_csv(rows, out.with_suffix(".csv"), ROW_KEYS)
    write_json({"rows": rows}, out.with_suffix(".json"))
    plot(rows, out.with_suffix(".png"), title, x)
    return [out.with_suffix(s) for s in (".csv", ".json", ".png")]


def save(rows: list[dict], out: str | os.PathLike, title: str, x: str = "batch_size") -> int:
    """:func:`write_results`, then name the files written; the end of every script's ``run`` (exit code 0)."""
    print("wrote " + ", ".join(map(str, write_results(rows, out, title, x))))
    return 0


def series_label(row: dict) -> str:
    """A row's series name: model, part, runtime, configuration and non-float32 precision."""
    backend = row.get("backend")
    backend = None if backend and backend in str(row["runtime"]) else backend
    parts = [row["model"], row["part"] or "", backend or "", row["runtime"], row["config"] or ""]
    if row["precision"] not in (None, "float32"):
        parts.append(row["precision"])
    return " ".join(p for p in parts if p)


def plot(rows: list[dict], path: Path, title: str, x: str = "batch_size") -> None:
    """samples/s against batch size: one panel per model and part, one line per runtime/configuration."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["benchmark"] not in ("peak", "bandwidth")] or rows
    panels: dict[str, dict[str, list]] = {}
    for row in rows:
        panel = panels.setdefault(f"{row['model']} {row['part'] or ''}".strip(), {})
        label = " ".join(str(v) for v in (row.get("backend"), row["runtime"], row["config"], row["precision"])
                         if v not in (None, ""))
        panel.setdefault(label, []).append((row[x], row["samples_per_s"]))
    cols = min(2, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6 * cols, 4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (name, series) in zip(axes.flat, panels.items(), strict=False):
        for label, points in series.items():
            points.sort()
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(x.replace("_", " "))
        ax.set_ylabel("samples / s (median)")
        ax.set_title(name, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def add_common_arguments(parser: argparse.ArgumentParser, out_name: str) -> None:
    """Options every benchmark script takes: ``--device``, ``--out`` and ``--peak-sizes``."""
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="run on the GPU when present (auto), or force one")
    parser.add_argument("--out", default=str(RESULTS / out_name), help="output path without suffix")
    parser.add_argument("--peak-sizes", type=int, nargs="+", default=None,
                        help="matrix sizes of the matmul peak probe (default by device)")


HEADER = (f"{'series':<56} {'batch':>6} {'samples/s':>11} {'median ms':>10} {'p90 ms':>9} "
          + f"{'GFLOP/s':>8} {'% peak':>7} {'vs peer':>8}")


def print_rows(rows: list[dict], header: bool = False) -> None:
    """Print rows as a fixed-width table (with the header if asked); ``vs peer`` is ``vs_best_peer`` where measured."""
    if header:
        print(HEADER)
    for r in rows:
        pct = "" if r["percent_of_peak"] is None else f"{r['percent_of_peak']:.1f}"
        gf = "" if r["gflops_per_s"] is None else f"{r['gflops_per_s']:.1f}"
        peer = "" if r.get("vs_best_peer") is None else f"{r['vs_best_peer']:.2f}x"
        print(f"{series_label(r):<56} {r['batch_size']:>6} {r['samples_per_s']:>11.0f} "
              + f"{r['latency_ms_median']:>10.4f} {r['latency_ms_p90']:>9.4f} {gf:>8} {pct:>7} {peer:>8}", flush=True)
