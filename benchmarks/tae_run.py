"""The Tiny AutoEncoder benchmark's owner side: workers, probes, exports, interleaved rounds, rows.

:func:`run_benchmark` starts a worker per runtime (``benchmarks.tae_worker``),
probes the machine through them, has the TensorFlow worker make the exports,
then for each part, size, batch and precision builds every runtime's cell,
times interleaved rounds and turns the times into rows (``ROW_KEYS`` plus
:data:`EXTRA_KEYS`). :func:`suite_sweep` is the GPU suite's use of it.
``python -m benchmarks.tae_bench`` is the command line.

Keras loads lazily (``benchmarks.common`` and ``benchmarks.runs`` import it): the
suite reads :func:`add_suite_arguments` before it sets its workers' environment.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.protocol import ProcessWorker, WorkerError
from benchmarks.tae_worker import CHECKPOINTS, EXPORTS, MODEL, PARTS, RUNTIMES

#: The runtime every ratio is taken against.
BASELINE = "reference compile"
#: Columns these rows add to ``benchmarks.common.ROW_KEYS``.
EXTRA_KEYS = ["image_size", "threads", "max_abs_diff", "vs_reference_compile", "weights"]


def bench_images(size: int, batch: int) -> np.ndarray:
    """``batch`` photographs, float32 NHWC in [0, 1], ``size`` x ``size``: china.jpg, flower.jpg, then mirrored.

    Each photo is centre-cropped to a square and resized (bicubic) to ``size``. Where scikit-learn is
    missing (the GPU machine), seeded smooth colour fields stand in (:func:`images_source` says which).
    """
    from PIL import Image

    from zoo.data.photos import PHOTOS, sample_photographs

    try:
        photos = sample_photographs()
    except ImportError:  # no scikit-learn (the GPU machine): seeded smooth colour fields
        photos = tuple(np.asarray(Image.fromarray(np.random.default_rng(len(name)).integers(
            0, 256, (12, 12, 3), dtype=np.uint8)).resize((640, 427), Image.BICUBIC)) for name in PHOTOS)

    out = []
    for i in range(batch):
        photo = photos[i % 2]
        h, w = photo.shape[:2]
        side = min(h, w)
        square = photo[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        image = np.asarray(Image.fromarray(square).resize((size, size), Image.BICUBIC), np.float32) / 255.0
        out.append(image[:, ::-1] if (i // 2) % 2 else image)
    return np.ascontiguousarray(np.stack(out))


def images_source() -> str:
    """What :func:`bench_images` returns on this machine."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is not None:
        return "scikit-learn sample photographs china.jpg and flower.jpg (CC BY 2.0), centre-cropped and resized"
    return "seeded smooth colour fields (scikit-learn, which ships the sample photographs, is not installed)"


def weights_label(checkpoints: str | None, weights: str) -> str:
    """What the rows' ``weights`` column says."""
    if weights == "random":
        return "seeded random weights (same architecture)"
    if checkpoints and all((Path(checkpoints) / f).exists() for f in CHECKPOINTS.values()):
        return f"reference: {', '.join(CHECKPOINTS.values())}; aezoo: {MODEL} (converted from them)"
    return f"{MODEL} (reference gets the same weights in the PyTorch layout)"


class TAEWorker(ProcessWorker):
    """A worker process for one runtime kind (``python -m benchmarks.tae_worker KIND``)."""

    def __init__(self, kind: str, device: str, threads: int | None, **setup) -> None:
        self.kind = kind
        backend = {"reference": "torch", "onnxruntime": "jax", "litert": "jax"}.get(kind, kind)
        super().__init__(backend, device, threads, command=("-m", "benchmarks.tae_worker", kind),
                         setup={"threads": threads, **setup})


def _groups(sizes: Sequence[int], throughput: int | None) -> list[tuple[int, int]]:
    """(size, batch): batch 1 at every size, then the throughput batch at the smallest size."""
    groups = [(s, 1) for s in sizes]
    if throughput and throughput > 1:
        groups.append((min(sizes), throughput))
    return groups


def time_group(workers: dict, runtimes: Sequence[str], part: str, size: int, batch: int, precision: str,
               rounds: int, min_seconds: float, workdir: Path, notes: dict) -> dict[str, dict]:
    """Build every runtime's cell of one part, size and batch, then time ``rounds`` interleaved rounds.

    Returns:
        runtime -> ``{"times", "peak_memory_gb", "max_abs_diff", "note"}`` (a failed build: ``{"failed": message}``).
    """
    tag = f"{size}_b{batch}_{precision}"
    inputs = workdir / (f"images_{tag}.npy" if part == "encoder" else f"latents_{tag}.npy")
    reference = workdir / f"out_{part}_{tag}.npy"
    built: dict[str, tuple] = {}
    results: dict[str, dict] = {}
    order = sorted(runtimes, key=lambda r: r != "reference eager")  # the reference output first
    for runtime in order:
        worker = workers[runtime]
        save = None
        if runtime == "reference eager":
            save = str(reference)
        try:
            reply = worker.call("build", runtime=runtime, part=part, precision=precision, inputs=str(inputs),
                                reference=None if runtime == "reference eager" else str(reference), save_output=save)
        except WorkerError as err:
            results[runtime] = {"failed": str(err)}
            print(f"failed: {runtime} {part} {size}x{size} batch {batch}: {err}", flush=True)
            continue
        if runtime == "reference eager" and part == "encoder":
            np.save(workdir / f"latents_{tag}.npy", np.load(reference))
        built[runtime] = (worker, reply["id"])
        results[runtime] = {"times": [], "peak_memory_gb": None, "max_abs_diff": reply["max_abs_diff"],
                            "note": notes.get((runtime, part))}
    try:
        for _ in range(rounds):
            for runtime, (worker, cell) in built.items():
                reply = worker.call("run", cell=cell, min_seconds=min_seconds)
                results[runtime]["times"] += reply["times"]
                mem = reply["peak_memory_gb"]
                results[runtime]["peak_memory_gb"] = max(mem, results[runtime]["peak_memory_gb"] or 0.0)
    finally:
        for worker, cell in built.values():
            worker.call("drop", cells=[cell])
    return results


def make_rows(results: dict[str, dict], part: str, size: int, batch: int, precision: str, counts: dict,
              workers: dict, peaks: dict, bandwidth: float | None, threads: dict, weights: str) -> list[dict]:
    """Rows of one group: the fixed keys plus :data:`EXTRA_KEYS`, ratios against :data:`BASELINE`."""
    from benchmarks.common import ROW_KEYS, make_row
    from benchmarks.runs import roofline

    rows = []
    base = results.get(BASELINE, {}).get("times")
    base_median = statistics.median(base) if base else None
    env_default = next(w.setup["env"] for w in workers.values() if w.setup.get("env"))
    for runtime, result in results.items():
        if "failed" in result:
            continue
        worker = workers[runtime]
        kind, rt_precision = RUNTIMES[runtime]
        env = dict(worker.setup.get("env") or env_default)
        if kind in ("onnxruntime", "litert"):
            env["backend"] = None
        row_precision = precision if precision != "float32" else rt_precision
        row = make_row("tae_inference", result["times"], batch, counts[part]["flops"], None, env,
                       model=MODEL, part=part, runtime=runtime, config="reference" if kind == "reference" else "aezoo",
                       device=worker.setup["device"], precision=row_precision, xla=kind == "jax",
                       steps_per_execution=None, bytes_per_sample=counts[part]["bytes"], note=result.get("note"))
        row["peak_memory_gb"] = result["peak_memory_gb"]
        roofline(row, peaks, bandwidth)
        median = statistics.median(result["times"])
        row.update(image_size=size, threads=json.dumps(threads.get(kind, {}), sort_keys=True),
                   max_abs_diff=result["max_abs_diff"], weights=weights,
                   vs_reference_compile=base_median / median if base_median else None)
        best_ref = [statistics.median(r["times"]) for k, r in results.items()
                    if k.startswith("reference") and r.get("times")]
        row["vs_best_peer"] = min(best_ref) / median if best_ref and kind != "reference" else None
        rows.append({k: row.get(k) for k in ROW_KEYS + EXTRA_KEYS})
    return rows


def print_table(rows: list[dict]) -> None:
    """One line per row: part, size, batch, runtime, median/p90 ms, ratio to torch.compile, max abs diff."""
    for r in rows:
        if r["benchmark"] != "tae_inference":
            continue
        ratio = "" if r["vs_reference_compile"] is None else f"{r['vs_reference_compile']:.2f}x"
        diff = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.2g}"
        print(f"{r['part']:<8} {r['image_size']:>5} b{r['batch_size']:<3} {r['runtime']:<20} "
              + f"{r['latency_ms_median']:>10.1f} {r['latency_ms_p90']:>10.1f} {ratio:>7} {diff:>9} "
              + f"{(r['percent_of_roofline'] or 0):>6.1f}% {(r['peak_memory_gb'] or 0):>6.2f} GB", flush=True)


def open_workers(runtimes: Sequence[str], device: str, threads: int | None, setup: dict) -> dict:
    """One worker process per runtime, started in parallel; runtime -> worker."""
    workers: dict[str, TAEWorker] = {}
    try:
        for runtime in runtimes:
            workers[runtime] = TAEWorker(RUNTIMES[runtime][0], device, threads, **setup)
    except BaseException:
        for w in workers.values():
            w.close()
        raise
    return workers


def run_benchmark(runtimes: Sequence[str], sizes: Sequence[int], throughput: int | None, rounds: int,
                  min_seconds: float, device: str = "cpu", threads: int | None = 2, weights: str = "pretrained",
                  checkpoints: str | None = "/tmp/taesd", peak_sizes: Sequence[int] = (512, 1024),
                  parts: Sequence[str] = PARTS, precisions: Sequence[str] = ("float32",),
                  batches: Sequence[tuple[int, int]] | None = None,
                  deadline: float | None = None, reuse_exports: str | None = None,
                  probes: tuple[dict, float | None] | None = None) -> tuple[list[dict], dict]:
    """Probe, export, build and time every runtime x part x size (x batch x precision); the rows and the run's record.

    Args:
        runtimes: Names from :data:`RUNTIMES`; the reference eager one is always added (every check needs it).
        sizes: Square image sizes (multiples of 8).
        throughput: The throughput batch at the smallest size (None or 1: none).
        rounds: Interleaved rounds per group.
        min_seconds: Timed seconds per cell and round (at least one call).
        device: ``cpu`` or ``gpu``.
        threads: CPU threads of every runtime (None: the frameworks' defaults).
        weights: ``pretrained`` (:data:`MODEL`, and the original checkpoints for the reference) or ``random``.
        checkpoints: Folder with the original ``.pth`` files (optional).
        peak_sizes: Matrix sizes of the matmul probe.
        parts: Parts to time.
        precisions: ``float32`` and/or ``bfloat16`` (bfloat16: the reference and Keras runtimes only).
        batches: Explicit (size, batch) groups instead of ``sizes`` x batch 1 plus ``throughput``.
        deadline: ``time.perf_counter()`` after which no new group starts (the first always runs).
        reuse_exports: A folder with an earlier run's exports (``export_name`` files and reports) to use as they are.
        probes: ``(peaks by precision, bandwidth)`` measured already (the GPU suite's); None: probe here.

    A group that runs out of memory ends its size's sweep: larger batches of that size are skipped.

    Returns:
        ``(rows, record)``; the record has the probes, threads, exports, failures and skipped groups.
    """
    from benchmarks.common import is_out_of_memory
    from benchmarks.runs import COPY_MB, probe_rows

    runtimes = list(dict.fromkeys(["reference eager", *runtimes]))
    start = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="aezoo-tae-"))
    if weights != "random" and not (checkpoints and all((Path(checkpoints) / f).exists() for f in CHECKPOINTS.values())):
        checkpoints = None
    setup = {"weights": weights, "checkpoints": checkpoints, "workdir": str(workdir)}
    workers = open_workers(runtimes, device, threads, setup)
    record: dict = {"failed": [], "skipped": [], "exports": {}, "workdir": str(workdir)}
    rows: list[dict] = []
    try:
        keras_worker = next((workers[r] for r in runtimes if RUNTIMES[r][0] in ("jax", "tensorflow", "torch")), None)
        if keras_worker is None:
            raise ValueError("At least one Keras runtime is needed (it counts FLOPs and writes the weights).")
        if checkpoints is None:
            keras_worker.call("weights")
        label = weights_label(checkpoints, weights)
        threads_by_kind = {w.kind: w.setup["threads"] for w in workers.values()}
        probers = {w.kind: w for w in workers.values() if w.kind in ("reference", "tensorflow", "jax")}
        precisions_probed = sorted({"float32", *precisions})
        if probes is None:
            peaks, bandwidth, probe = probe_rows(probers, precisions_probed, list(peak_sizes),
                                                 COPY_MB["gpu" if device == "gpu" else "cpu"], min_seconds)
        else:
            (peaks, bandwidth), probe = probes, []
        for row in probe:
            row["benchmark"] = f"tae_{row['benchmark']}"
        print("matmul peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items())
              + f"; copy bandwidth {bandwidth:.1f} GB/s", flush=True)
        notes: dict = {}
        tf_worker = next((w for w in workers.values() if w.kind == "tensorflow"), None)
        for runtime in [r for r in runtimes if r in EXPORTS]:
            for part in parts:
                if tf_worker is None:
                    raise ValueError(f"{runtime} needs the 'keras tensorflow' runtime (TensorFlow makes the exports).")
                try:
                    reply = tf_worker.call("export", runtime=runtime, part=part, reuse=reuse_exports)
                    notes[(runtime, part)] = reply["note"]
                    record["exports"][f"{runtime} {part}"] = reply["note"]
                    print(f"exported {runtime} {part}: {reply['note']}", flush=True)
                except Exception as err:  # noqa: BLE001 - a failed export is a missing row, not a failed run
                    record["failed"].append(f"export {runtime} {part}: {err}")
                    print("failed: " + record["failed"][-1], flush=True)
        groups = list(batches) if batches else _groups(sizes, throughput)
        full: dict[int, int] = {}  # size -> the batch that ran out of memory
        for i, (size, batch) in enumerate(groups):
            if deadline is not None and i and time.perf_counter() > deadline:
                if not record["skipped"] or "and later" not in record["skipped"][-1]:
                    record["skipped"].append(f"{size}x{size} batch {batch} and later (time budget)")
                break
            if size in full and batch > full[size]:
                record["skipped"].append(f"{size}x{size} batch {batch} (batch {full[size]} ran out of memory)")
                continue
            counts = keras_worker.call("count", size=size, batch=batch)
            for j, precision in enumerate(precisions):
                if deadline is not None and (i or j) and time.perf_counter() > deadline:
                    record["skipped"].append(f"{size}x{size} batch {batch} {precision} and later (time budget)")
                    break
                tag = f"{size}_b{batch}_{precision}"
                np.save(workdir / f"images_{tag}.npy", bench_images(size, batch))
                names = [r for r in runtimes if precision == "float32" or RUNTIMES[r][0] in ("reference", "jax", "torch")]
                for part in parts:
                    if part == "decoder" and not (workdir / f"latents_{tag}.npy").exists():
                        made = workers["reference eager"].call(
                            "build", runtime="reference eager", part="encoder", precision=precision,
                            inputs=str(workdir / f"images_{tag}.npy"), reference=None,
                            save_output=str(workdir / f"latents_{tag}.npy"), warmup=0)
                        workers["reference eager"].call("drop", cells=[made["id"]])
                    # Big images: fewer rounds (each call is seconds long), still at least 5 timed calls.
                    group_rounds = rounds if size * size * batch < 1024 * 1024 else max(5, rounds // 2)
                    results = time_group(workers, names, part, size, batch, precision, group_rounds, min_seconds,
                                         workdir, notes)
                    for runtime, result in results.items():
                        if "failed" in result:
                            if is_out_of_memory(RuntimeError(result["failed"])):
                                full[size] = min(batch, full.get(size, batch))
                            record["failed"].append(f"{runtime} {part} {size}x{size} batch {batch} {precision}: "
                                                    + result["failed"])
                    new = make_rows(results, part, size, batch, precision, counts, workers, peaks, bandwidth,
                                    threads_by_kind, label)
                    print_table(new)
                    rows += new
    finally:
        for worker in workers.values():
            worker.close()
    record.update(images=images_source(), peaks_gflops_per_s=peaks, bandwidth_gb_per_s=bandwidth, threads=threads_by_kind,
                  elapsed_s=round(time.perf_counter() - start, 1), weights=label, probe_rows=probe)
    return rows, record


#: GPU-suite defaults: sizes, largest batch (x4 from 1), budget in seconds; ``--small`` ones for a CPU rehearsal.
SUITE = {"tae_sizes": [512, 1024], "tae_max_batch": 64, "tae_budget_s": 150.0}
SUITE_SMALL = {"tae_sizes": [64], "tae_max_batch": 2, "tae_budget_s": 600.0}


def add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    """The GPU suite's TAE options (``benchmarks.suite``)."""
    parser.add_argument("--tae-sizes", type=int, nargs="+", default=None,
                        help=f"TAE image sizes (default {SUITE['tae_sizes']}; --small {SUITE_SMALL['tae_sizes']})")
    parser.add_argument("--tae-max-batch", type=int, default=None,
                        help=f"largest TAE batch, x4 from 1 until out of memory (default {SUITE['tae_max_batch']})")
    parser.add_argument("--tae-budget-s", type=float, default=None,
                        help=f"seconds of --budget-s the TAE sweep takes (default {SUITE['tae_budget_s']:g})")


def suite_groups(sizes: Sequence[int], max_batch: int) -> list[tuple[int, int]]:
    """(size, batch) in the suite's order: batch 1 at every size first, then x4 batches, size by size."""
    batches = [1]
    while batches[-1] * 4 <= max_batch:
        batches.append(batches[-1] * 4)
    return [(s, b) for b in batches for s in sizes]


def suite_sweep(args: argparse.Namespace, peaks: dict, bandwidth: float | None) -> tuple[list[dict], dict]:
    """The GPU suite's TAE sweep: Keras on JAX and the PyTorch reference (eager, compile), per precision.

    Encoder and decoder at ``--tae-sizes``, batch 1 then x4 up to ``--tae-max-batch`` or the first
    out-of-memory error, within ``--tae-budget-s``. Weights: the ``tae.flux2`` entry (it ships in the
    package), handed to the reference in the PyTorch layout; no ``.pth`` file is needed.
    """
    defaults = SUITE_SMALL if args.small else SUITE
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    runtimes = ["reference eager", "reference compile"]
    runtimes += [f"keras {b}" for b in args.backends if f"keras {b}" in RUNTIMES and b != "tensorflow"]
    deadline = time.perf_counter() + args.tae_budget_s
    rows, record = run_benchmark(runtimes, args.tae_sizes, None, args.rounds, args.min_seconds, args.device,
                                 args.threads, "pretrained", None, (), PARTS, args.precisions,
                                 batches=suite_groups(args.tae_sizes, args.tae_max_batch), deadline=deadline,
                                 probes=(peaks, bandwidth))
    record.update(sizes=args.tae_sizes, max_batch=args.tae_max_batch, budget_s=args.tae_budget_s, runtimes=runtimes)
    return rows, record
