"""A run over several backends and the PyTorch peers: probes, interleaved cells, rows with rooflines and ratios.

The owner of a run opens one worker per backend (:mod:`benchmarks.workers`),
asks each for its probes, builds cells in all of them, then times one round of
every cell in turn, ``rounds`` times. Rows carry this run's roofline (the
smaller of the matmul peak and bandwidth x arithmetic intensity) and, for
aezoo rows, the ratio to the best PyTorch peer row of the same model, part,
batch size and precision (``vs_best_peer``).
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Sequence

from benchmarks.common import ROW_KEYS, make_row, print_rows
from benchmarks.peers import PEER_MODELS

#: Backend of the worker that runs the peers.
PEER_BACKEND = "torch"
#: Configurations that failed to build in this process' runs (listed by the suite), one line each.
FAILED: list[str] = []
#: MiB copied by the bandwidth probe (well beyond every cache).
COPY_MB = {"cpu": 256, "gpu": 4096}


def probe_rows(workers: dict, precisions: Sequence[str], sizes: Sequence[int], copy_mb: int,
               min_seconds: float = 0.3) -> tuple[dict[str, float], float, list[dict]]:
    """Matmul peaks by precision and copy bandwidth (the best over backends), and a row per measurement.

    float32 rows of a GPU are judged against the better of the float32 and TF32
    peaks (frameworks may use TF32 for float32 matmuls), and no precision's peak
    is below float32's.

    Returns:
        ``(peak GFLOP/s by precision, bandwidth GB/s, rows)``.
    """
    rows = []
    for backend, worker in workers.items():
        for m in worker.call("probe", precisions=list(precisions), sizes=list(sizes), copy_mb=copy_mb,
                             min_seconds=min_seconds)["measurements"]:
            median = statistics.median(m["times"])
            is_copy = m["kind"] == "copy"
            row = make_row("bandwidth" if is_copy else "peak", m["times"], m["size"], None if is_copy else m["work"] // m["size"],
                           None, worker.setup["env"], model=m["kind"], backend=backend, runtime=backend,
                           device=worker.setup["device"], precision=m["precision"], xla=backend == "jax",
                           note=f"{m['size']} MiB float32 read and written" if is_copy
                           else f"{m['size']}x{m['size']} @ {m['size']}x{m['size']}; batch_size is n")
            if is_copy:
                row.update(samples_per_s=None, bandwidth_gb_per_s=m["work"] / median / 1e9)
            rows.append(row)
    peaks: dict[str, float] = {}
    for row in rows:
        if row["benchmark"] == "peak":
            peaks[row["precision"]] = max(peaks.get(row["precision"], 0.0), row["gflops_per_s"])
    floor = max(peaks.get("float32", 0.0), peaks.pop("tf32", 0.0))
    peaks = {k: max(v, floor) for k, v in peaks.items()} | {"float32": floor}
    bandwidth = max((r["bandwidth_gb_per_s"] for r in rows if r["benchmark"] == "bandwidth"), default=None)
    for row in rows:
        if row["benchmark"] == "peak":
            row["peak_gflops_per_s"] = peaks.get(row["precision"], floor)
            row["percent_of_peak"] = 100 * row["gflops_per_s"] / row["peak_gflops_per_s"]
    return peaks, bandwidth, rows


def roofline(row: dict, peaks: dict[str, float], bandwidth: float | None) -> None:
    """Fill ``row``'s peak, roofline and percentages from this run's probes."""
    peak = peaks.get(row["precision"]) or peaks.get("float32")
    row["peak_gflops_per_s"] = peak
    if row["gflops_per_s"] and peak:
        row["percent_of_peak"] = 100 * row["gflops_per_s"] / peak
        roof = peak
        if bandwidth and row["bytes_per_sample"]:
            roof = min(peak, bandwidth * row["flops_per_sample"] / row["bytes_per_sample"])
        row.update(roofline_gflops_per_s=roof, bandwidth_gb_per_s=bandwidth,
                   percent_of_roofline=100 * row["gflops_per_s"] / roof)


def peer_specs(models: Sequence[str], kind: str, **fields) -> list[dict]:
    """Eager and compiled peer specs of every model that has a peer (``kind``: ``peer_train``/``peer_infer``)."""
    return [dict(fields, kind=kind, model=m, compiled=c) for m in models if m.split(".")[0] in PEER_MODELS
            for c in (False, True)]


def interleave(workers: dict, specs: dict[str, list[dict]], benchmark: str, rounds: int, peaks: dict[str, float],
               bandwidth: float | None, min_seconds: float = 0.3, printed: int = 0) -> list[dict]:
    """Build every spec's cell in its backend's worker, time ``rounds`` interleaved rounds, return the rows.

    Args:
        workers: Workers by backend.
        specs: Cell specs (``benchmarks.cells``) by backend.
        benchmark: The rows' ``benchmark`` (``train`` or ``inference``).
        rounds: Timed rounds of every cell.
        peaks: Matmul peaks by precision (:func:`probe_rows`).
        bandwidth: Copy bandwidth in GB/s.
        min_seconds: Seconds of calls per round of an inference cell.
        printed: Rows printed before (the table header comes with the first).

    Returns:
        One row per cell, with rooflines, peak memory and ``vs_best_peer``.
    """
    built = []
    try:
        for backend, backend_specs in specs.items():
            if backend_specs:
                cells = workers[backend].call("build", specs=backend_specs)["cells"]
                for c in cells:
                    if c["id"] is None:
                        spec = c["spec"]
                        FAILED.append(f"{backend} {spec['kind']} {spec['model']} batch {spec['batch_size']}"
                                      + "".join(f" {spec[k]}" for k in ("part", "runtime", "precision") if k in spec)
                                      + f": {c['failed']}")
                        print("failed: " + FAILED[-1], flush=True)
                built += [(workers[backend], c) for c in cells if c["id"] is not None]
        times = {id(c): [] for _, c in built}
        memory = {id(c): None for _, c in built}
        for _ in range(rounds):
            for worker, cell in built:
                reply = worker.call("run", cell=cell["id"], min_seconds=min_seconds / rounds)
                times[id(cell)] += reply["times"]
                if reply["peak_memory_gb"] is not None:
                    memory[id(cell)] = max(memory[id(cell)] or 0.0, reply["peak_memory_gb"])
    finally:
        for worker in {id(w): w for w, _ in built}.values():
            worker.call("drop", cells=[c["id"] for w, c in built if w is worker])
    rows = []
    for worker, cell in built:
        meta = {k: v for k, v in cell["meta"].items() if k in ROW_KEYS}
        batch, flops = meta.pop("batch_size"), meta.pop("flops_per_sample")
        row = make_row(benchmark, times[id(cell)], batch, flops, None, worker.setup["env"], **meta)
        row["peak_memory_gb"] = memory[id(cell)]
        roofline(row, peaks, bandwidth)
        rows.append(row)
    add_peer_ratios(rows)
    print_rows(rows, header=printed == 0)
    return rows


def add_peer_ratios(rows: list[dict]) -> None:
    """Set each aezoo row's ``vs_best_peer``: its samples/s over the best peer row of its group."""
    def group(r):
        return r["benchmark"], r["model"], r["part"], r["requested_batch_size"], r["precision"]

    best: dict[tuple, float] = {}
    for r in rows:
        if r["config"] == "peer":
            best[group(r)] = max(best.get(group(r), 0.0), r["samples_per_s"])
    for r in rows:
        if r["config"] != "peer" and group(r) in best:
            r["vs_best_peer"] = r["samples_per_s"] / best[group(r)]


def add_backend_arguments(parser) -> None:
    """``--backend`` (several allowed, a worker process each) and ``--peers/--no-peers``."""
    import argparse

    from benchmarks.backends import BACKENDS

    parser.add_argument("--backend", nargs="+", choices=BACKENDS, metavar="BACKEND",
                        help="Keras backends to run, each in its own process: " + ", ".join(BACKENDS)
                        + " (default: this process' backend, without peers)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None,
                        help="also time the plain PyTorch peers (default: on with --backend)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of every backend's kernels, each backend in its own process "
                        + "(default: the frameworks' own choice)")


@contextlib.contextmanager
def backend_run(args, extra: str | None = None, min_seconds: float = 0.3):
    """Workers for ``args.backend`` (and ``extra``, the peers' backend), probed; closed on exit.

    Yields:
        ``(workers by backend, the --backend names, peaks by precision, bandwidth GB/s, probe rows)``.
    """
    from benchmarks.backends import check_backend, parse_backends
    from benchmarks.peak import CPU_SIZES, GPU_SIZES
    from benchmarks.workers import close_workers, open_workers

    names = parse_backends(args.backend)
    workers = open_workers(list(dict.fromkeys([*names, *([check_backend(extra)] if extra else [])])), args.device,
                           getattr(args, "threads", None))
    try:
        gpu = any(w.setup["device"] == "gpu" for w in workers.values())
        precisions = {"float32", *getattr(args, "precisions", ())} - {"float16"} | ({"tf32"} if gpu else set())
        peaks, bandwidth, rows = probe_rows(workers, sorted(precisions), args.peak_sizes or (GPU_SIZES if gpu else CPU_SIZES),
                                            COPY_MB["gpu" if gpu else "cpu"], min_seconds)
        print("matmul peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items())
              + f"; copy bandwidth {bandwidth:.1f} GB/s", flush=True)
        yield workers, names, peaks, bandwidth, rows
    finally:
        close_workers(workers)
