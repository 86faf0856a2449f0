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

Runtimes (:data:`RUNTIMES`), each in its own worker process (Keras picks its
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
``benchmarks.common.ROW_KEYS`` plus :data:`EXTRA_KEYS`; FLOPs and bytes per
image are counted from a fixed-size build's layers (``benchmarks.flops``:
convolutions only), and % of roofline is against this run's own probes
(``benchmarks.probes``: matmul peak and copy bandwidth through PyTorch,
TensorFlow and JAX). ``peak_memory_gb`` is the worker's peak resident set
during the cell's rounds (``/proc/self/clear_refs`` resets it each round), so it
includes the framework's own footprint.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: Runtime -> (worker kind, precision). Worker kinds: ``reference`` (PyTorch, no Keras), a Keras backend,
#: ``onnxruntime`` or ``litert`` (their runtime only).
RUNTIMES: dict[str, tuple[str, str]] = {
    "reference eager": ("reference", "float32"),
    "reference compile": ("reference", "float32"),
    "keras tensorflow": ("tensorflow", "float32"),
    "keras jax": ("jax", "float32"),
    "keras torch": ("torch", "float32"),
    "onnxruntime": ("onnxruntime", "float32"),
    "onnxruntime int8": ("onnxruntime", "int8"),
    "litert": ("litert", "float32"),
    "litert float16": ("litert", "float16"),
    "litert int8": ("litert", "int8"),
}
#: Export runtimes -> (export format, quantize).
EXPORTS = {"onnxruntime": ("onnx", None), "onnxruntime int8": ("onnx", "int8"), "litert": ("tflite", None),
           "litert float16": ("tflite", "float16"), "litert int8": ("tflite", "int8")}
#: The runtime every ratio is taken against.
BASELINE = "reference compile"
#: Columns these rows add to ``benchmarks.common.ROW_KEYS``.
EXTRA_KEYS = ["image_size", "threads", "max_abs_diff", "vs_reference_compile", "weights"]
#: The benchmarked pretrained entry and its architecture.
MODEL = "tae.flux2"
ARCH = {"latent_dim": 32, "midblock_gn": True}
CHECKPOINTS = {"encoder": "taef2_encoder.pth", "decoder": "taef2_decoder.pth"}
PARTS = ("encoder", "decoder")
RESULTS = Path("benchmarks") / "results" / "tae"


# --------------------------------------------------------------------------- images and weights


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


def keras_model(weights: str):
    """The benchmarked model in this process' Keras backend: the pretrained entry, or seeded random weights."""
    import keras

    import zoo

    if weights == "random":
        keras.utils.set_random_seed(0)
        return zoo.create_model("tae", **ARCH)
    return zoo.load_pretrained(MODEL)


def reference_state(part: str, checkpoints: str | None, weights: str, workdir: Path) -> dict:
    """The PyTorch reference's state_dict of ``part``: the original checkpoint, else the Keras weights written out."""
    import torch

    if checkpoints and weights != "random":
        path = Path(checkpoints) / CHECKPOINTS[part]
        if path.exists():
            return torch.load(path, map_location="cpu", weights_only=True)
    stored = np.load(workdir / f"weights_{part}.npz")
    return {k: torch.from_numpy(np.array(stored[k])) for k in stored.files}


def export_name(runtime: str, part: str) -> str:
    """File name of ``runtime``'s export of ``part`` (``encoder.litert_int8.tflite``)."""
    return f"{part}.{runtime.replace(' ', '_')}.{'onnx' if EXPORTS[runtime][0] == 'onnx' else 'tflite'}"


def weights_label(checkpoints: str | None, weights: str) -> str:
    """What the rows' ``weights`` column says."""
    if weights == "random":
        return "seeded random weights (same architecture)"
    if checkpoints and all((Path(checkpoints) / f).exists() for f in CHECKPOINTS.values()):
        return f"reference: {', '.join(CHECKPOINTS.values())}; aezoo: {MODEL} (converted from them)"
    return f"{MODEL} (reference gets the same weights in the PyTorch layout)"


# --------------------------------------------------------------------------- worker side


def _peak_rss_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: resets VmHWM
    except OSError:
        pass


def _peak_rss_gb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, dict):
        value = next(iter(value.values()))
    if hasattr(value, "detach"):
        return value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


class Worker:
    """The worker side: one runtime kind, its models and cells; ``op_*`` answer requests of the same name."""

    def __init__(self, kind: str) -> None:
        self.kind, self.cells, self.models, self.calls, self.next_id = kind, {}, {}, {}, 0
        self.device, self.threads, self.weights, self.checkpoints, self.workdir = "cpu", None, "pretrained", None, None

    def op_setup(self, device: str, threads: int | None, weights: str, checkpoints: str | None,
                 workdir: str) -> dict:
        """Threads, device and weights for every later request; ``{"device", "env", "threads"}``."""
        self.threads, self.weights, self.checkpoints, self.workdir = threads, weights, checkpoints, Path(workdir)
        env, record = None, {}
        if self.kind in ("reference", "tensorflow", "jax", "torch"):
            from benchmarks import backends
            from benchmarks.common import row_environment

            backend = "torch" if self.kind == "reference" else self.kind
            backends.apply_threads(backend)
            self.device = backends.select_device(device, backend)
            env = row_environment()
            if self.kind == "reference":
                env["backend"] = None
        if self.kind in ("reference", "torch"):
            import torch

            record = {"torch_threads": torch.get_num_threads()}
        elif self.kind == "tensorflow":
            import tensorflow as tf

            record = {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                      "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
        elif self.kind == "jax":
            record = {"xla_cpu": os.cpu_count()}
        elif self.kind == "onnxruntime":
            record = {"ort_intra_op": threads or 0, "ort_inter_op": 1}
        elif self.kind == "litert":
            record = {"litert_num_threads": threads or os.cpu_count()}
        return {"device": self.device, "env": env, "threads": record}

    def op_probe(self, precisions: list[str], sizes: list[int], copy_mb: int, min_seconds: float) -> dict:
        """Matmul peak and copy bandwidth through this worker's framework (``benchmarks.probes.probe``)."""
        from benchmarks.probes import probe

        backend = "torch" if self.kind == "reference" else self.kind
        return {"measurements": probe(backend, self.device, precisions, sizes, copy_mb, min_seconds)}

    def _keras(self, precision: str = "float32"):
        if precision not in self.models:
            model = keras_model(self.weights)
            if precision != "float32":
                import zoo
                from zoo.pretrained.convert import load_state_dict, stored_state_dict

                twin = zoo.create_model("tae", dtype=precision, **ARCH)
                for name in ("encoder_network", "decoder"):
                    load_state_dict(getattr(twin, name), stored_state_dict(getattr(model, name)))
                model = twin
            self.models[precision] = model
        return self.models[precision]

    def op_weights(self) -> dict:
        """Write the Keras model's weights in the PyTorch layout (``weights_{part}.npz``) for the reference."""
        from zoo.pretrained.convert import stored_state_dict

        model = self._keras()
        for part, network in (("encoder", model.encoder_network), ("decoder", model.decoder)):
            np.savez(self.workdir / f"weights_{part}.npz", **stored_state_dict(network))
        return {"ok": True}

    def op_count(self, size: int, batch: int) -> dict:
        """FLOPs and bytes per image of each part at ``size`` (a fixed-size build's layers, random weights)."""
        import zoo
        from benchmarks.flops import part_bytes, part_flops

        model = zoo.create_model("tae", input_shape=(size, size, 3), **ARCH)
        return {part: {"flops": part_flops(model, part), "bytes": part_bytes(model, part, batch)} for part in PARTS}

    def op_export(self, runtime: str, part: str, reuse: str | None = None) -> dict:
        """Export ``part`` for an export runtime (dynamic shapes, validated by ``export_model``); the file's path.

        With ``reuse``, a folder holding an earlier run's export of the same name (and its report) is used instead.
        """
        import shutil

        from export import export_model

        fmt, quantize = EXPORTS[runtime]
        path = self.workdir / export_name(runtime, part)
        if reuse and (Path(reuse) / path.name).exists():
            report = json.loads((Path(reuse) / f"{path.name}.export_report.json").read_text())
            shutil.copy(Path(reuse) / path.name, path)
            mse = report.get("mse_delta_rel")
            return {"path": str(path), "note": f"export reused from {reuse}, max abs error "
                    + f"{report.get('max_abs_error', float('nan')):.2g} vs Keras"
                    + (f", reconstruction MSE {100 * mse:+.1f}% vs Keras" if quantize and mse is not None else "")}
        start = time.perf_counter()
        report = export_model(self._keras(), fmt, path, part=part, quantize=quantize,
                              mse_rtol=1e9 if quantize else None, overwrite=True)
        note = f"export {time.perf_counter() - start:.0f} s, max abs error {report.max_abs_error:.2g} vs Keras"
        if quantize and getattr(report, "mse_delta_rel", None) is not None:
            note += f", reconstruction MSE {100 * report.mse_delta_rel:+.1f}% vs Keras"
        return {"path": str(path), "note": note}

    def _reference(self, part: str, compiled: bool, precision: str):
        import torch

        from benchmarks.backends import torch_device
        from benchmarks.peers.tae_torch import tiny_decoder, tiny_encoder

        key = (part, precision)
        if key not in self.models:
            module = (tiny_encoder if part == "encoder" else tiny_decoder)(ARCH["latent_dim"], 8, ARCH["midblock_gn"])
            module.load_state_dict(reference_state(part, self.checkpoints, self.weights, self.workdir), strict=True)
            dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
            self.models[key] = module.to(dtype).to(torch_device(self.device)).eval()
        module = self.models[key]
        # CPU: static shapes, one compilation per size (the reference at its best). GPU: torch.compile's default
        # (a shape-generic recompilation at the second shape), so a batch sweep does not compile at every batch.
        fn = (torch.compile(module, dynamic=False if self.device == "cpu" else None) if compiled else module)
        gpu = self.device == "gpu"

        def call(x):
            with torch.inference_mode():
                out = fn(x)
                out = out.clamp(0, 1) if part == "decoder" else out
                if gpu:
                    torch.cuda.synchronize()
                return out

        return call

    def _prepare(self, runtime: str, part: str, precision: str, x: np.ndarray) -> tuple[Callable, object]:
        """A call and its resident input for ``runtime``."""
        from benchmarks import backends

        if runtime.startswith("reference"):
            import torch

            dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
            xt = torch.as_tensor(x.transpose(0, 3, 1, 2).copy()).to(dtype).to(backends.torch_device(self.device))
            key = (runtime, part, precision, x.shape)  # one static compilation per shape
            if key not in self.calls:
                self.calls[key] = self._reference(part, runtime.endswith("compile"), precision)
            return self.calls[key], xt
        if runtime.startswith("keras"):
            key = (runtime, part, precision)
            if key not in self.calls:
                graph = self._keras(precision).get_part(part)
                name = {"tensorflow": "keras_function", "jax": "jax_jit", "torch": "torch_eager"}[self.kind]
                self.calls[key] = backends.keras_inference(graph, name, self.device)
            xb = backends.to_device(x, self.kind, self.device)
            if precision == "bfloat16":
                import keras

                xb = keras.ops.cast(xb, "bfloat16")
            return self.calls[key], xb
        path = self.workdir / export_name(runtime, part)
        key = (runtime, part)
        if key not in self.calls:
            self.calls[key] = self._load_export(runtime, path)
        return self.calls[key], np.ascontiguousarray(x)

    def _load_export(self, runtime: str, path: Path) -> Callable:
        if EXPORTS[runtime][0] == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads or 0
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            return lambda x: session.run(None, {name: x})[0]
        # The interpreter directly (not export.load_artifact, whose import loads Keras): this worker's
        # memory is LiteRT's alone. XNNPACK is LiteRT's default CPU delegate.
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=self.threads or os.cpu_count())
        inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        shape = {"now": None}

        def call(x):
            if shape["now"] != x.shape:
                interpreter.resize_tensor_input(inp, x.shape)
                interpreter.allocate_tensors()
                shape["now"] = x.shape
            interpreter.set_tensor(inp, x)
            interpreter.invoke()
            return interpreter.get_tensor(out)

        return call

    def op_build(self, runtime: str, part: str, precision: str, inputs: str, reference: str | None,
                 save_output: str | None = None, warmup: int = 1) -> dict:
        """Build, check and warm up a cell; ``{"id", "max_abs_diff", "build_s"}``."""
        start = time.perf_counter()
        x = np.load(inputs)
        call, xr = self._prepare(runtime, part, precision, x)
        out = _to_numpy(call(xr))
        if runtime.startswith("reference"):
            out = out.transpose(0, 2, 3, 1)
        if save_output:
            np.save(save_output, out)
        diff = None
        if reference and Path(reference).exists():
            ref = np.load(reference)
            diff = float(np.max(np.abs(out.astype(np.float64) - ref))) if ref.shape == out.shape else float("nan")
        for _ in range(warmup):
            call(xr)
        self.next_id += 1
        self.cells[self.next_id] = (call, xr)
        return {"id": self.next_id, "max_abs_diff": diff, "build_s": time.perf_counter() - start}

    def op_run(self, cell: int, min_seconds: float, min_iters: int = 1) -> dict:
        """Time calls of ``cell`` for ``min_seconds`` (at least ``min_iters``); times and peak resident GB."""
        call, x = self.cells[cell]
        _peak_rss_reset()
        if self.device == "gpu":
            from benchmarks import backends

            backends.reset_peak_memory("torch" if self.kind == "reference" else self.kind, "gpu")
        # zoo.utils.timing.time_calls' loop, inlined: importing zoo.utils.timing loads Keras into the export runtimes' workers.
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < min_iters or (len(times) < 1000 and time.perf_counter() - start < min_seconds):
            t0 = time.perf_counter()
            call(x)
            times.append(time.perf_counter() - t0)
        memory = None
        if self.device == "gpu":
            from benchmarks import backends

            memory = backends.peak_memory_gb("torch" if self.kind == "reference" else self.kind, "gpu")
        return {"times": times, "peak_memory_gb": memory if memory is not None else _peak_rss_gb()}

    def op_drop(self, cells: list[int]) -> dict:
        """Forget cells (compiled calls stay for later rounds of the same shape)."""
        import gc

        for cell in cells:
            self.cells.pop(cell, None)
        gc.collect()
        if self.kind in ("reference", "torch") and self.device == "gpu":
            import torch

            torch.cuda.empty_cache()
        return {"ok": True}


def serve(kind: str) -> None:
    """Answer JSON requests on stdin (the ``benchmarks.workers`` protocol) until ``exit``."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # libraries' prints go to the log, not the reply stream
    sys.stdout = sys.stderr
    worker = Worker(kind)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "exit":
            replies.write(json.dumps({"ok": True}) + "\n")
            return
        try:
            reply = getattr(worker, f"op_{op}")(**request)
        except Exception as err:  # noqa: BLE001 - reported to the owner
            traceback.print_exc()
            reply = {"error": f"{type(err).__name__}: {err}".splitlines()[0][:500]}
        replies.write(json.dumps(reply, default=float) + "\n")


# --------------------------------------------------------------------------- owner side


class TAEWorker:
    """A worker process for one runtime (``python -m benchmarks.tae_bench --serve KIND``)."""

    def __init__(self, kind: str, device: str, threads: int | None, **setup) -> None:
        from benchmarks.backends import worker_env
        from benchmarks.workers import ProcessWorker

        backend = {"reference": "torch", "onnxruntime": "jax", "litert": "jax"}.get(kind, kind)
        env = worker_env(backend, device, threads)
        self.kind, self.backend = kind, backend
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.tae_bench", "--serve", kind], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.call = ProcessWorker.call.__get__(self)  # the same JSON-lines protocol as benchmarks.workers
        self.setup = self.call("setup", device=device, threads=threads, **setup)

    def close(self) -> None:
        from benchmarks.workers import ProcessWorker

        ProcessWorker.close(self)


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
    from benchmarks.workers import WorkerError

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


def write_rows(rows: list[dict], out: Path, meta: dict) -> list[Path]:
    """``out.csv`` and ``out.json`` (rows with ``ROW_KEYS + EXTRA_KEYS``, and the run's record)."""
    import csv

    from benchmarks.common import ROW_KEYS

    out.parent.mkdir(parents=True, exist_ok=True)
    keys = ROW_KEYS + EXTRA_KEYS
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps({"run": meta, "rows": rows}, indent=2, default=str) + "\n")
    return [out.with_suffix(".csv"), out.with_suffix(".json")]


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


def plot_latency(rows: list[dict], path: Path, title: str) -> None:
    """Median latency (bars, p90 as a tick) per runtime, one panel per part and group (size, batch, precision)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["benchmark"] == "tae_inference"]
    groups = sorted({(r["image_size"], r["batch_size"], r["precision"] == "bfloat16") for r in rows})
    panels = [(part, g) for g in groups for part in PARTS if any(r["part"] == part for r in rows)]
    cols = 2
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(11, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (part, (size, batch, bf16)) in zip(axes.flat, panels, strict=False):
        mine = [r for r in rows if r["part"] == part and r["image_size"] == size and r["batch_size"] == batch
                and (r["precision"] == "bfloat16") == bf16]
        names = [r["runtime"] for r in mine]
        med = [r["latency_ms_median"] for r in mine]
        p90 = [r["latency_ms_p90"] for r in mine]
        colors = ["#888888" if r["config"] == "reference" else "#1f77b4" if "keras" in r["runtime"]
                  else "#2ca02c" if "onnx" in r["runtime"] else "#d62728" for r in mine]
        y = range(len(mine))
        ax.barh(list(y), med, color=colors)
        ax.scatter(p90, list(y), marker="|", color="black", s=60, zorder=3)
        base = next((r["latency_ms_median"] for r in mine if r["runtime"] == BASELINE), None)
        for i, (m, p) in enumerate(zip(med, p90, strict=True)):
            ax.text(max(m, p), i, f" {m:,.0f}" + (f" ({base / m:.2f}x)" if base else ""), va="center", fontsize=6)
        ax.set_yticks(list(y), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ms per call (median; | = p90)", fontsize=7)
        ax.set_title(f"{part} {size}x{size}, batch {batch}"
                     + (", bfloat16" if bf16 else ""), fontsize=8)
        ax.tick_params(axis="x", labelsize=6)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown_table(rows: list[dict]) -> str:
    """A Markdown table of the rows: part, size, batch, runtime, median/p90 ms, ratio to torch.compile and more."""
    lines = ["| part | size | batch | runtime | precision | median ms | p90 ms | vs torch.compile | max abs diff "
             + "| peak RSS GB | % roofline |", "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["benchmark"] != "tae_inference":
            continue
        ratio = r["vs_reference_compile"]
        diff = r["max_abs_diff"]
        lines.append(
            f"| {r['part']} | {r['image_size']} | {r['batch_size']} | {r['runtime']} | {r['precision']} | "
            + f"{r['latency_ms_median']:,.1f} | {r['latency_ms_p90']:,.1f} | "
            + ("" if ratio is None else f"**{ratio:.2f}x**" if ratio >= 1.3 else f"{ratio:.2f}x") + " | "
            + ("reference" if diff is None else f"{diff:.1e}") + " | "
            + ("" if r["peak_memory_gb"] is None else f"{r['peak_memory_gb']:.2f}") + " | "
            + ("" if r["percent_of_roofline"] is None else f"{r['percent_of_roofline']:.0f}") + " |")
    return "\n".join(lines)


def report(path: str | os.PathLike, figure: str | os.PathLike | None = None) -> str:
    """The Markdown table of a results file, and its figure written to ``figure`` (``--report``)."""
    data = json.loads(Path(path).read_text())
    rows = [r for r in data["rows"] if r["benchmark"] == "tae_inference"]
    if figure:
        device = rows[0]["device"] if rows else "cpu"
        plot_latency(rows, Path(figure), f"tae.flux2 vs its PyTorch reference ({device}, {rows[0]['cpu']}; "
                     + "bars: median, |: p90, (x): vs torch.compile)")
    return markdown_table(rows)


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
    """Command-line entry point: ``python -m benchmarks.tae_bench`` (``--serve KIND`` is a worker)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        serve(argv[1])
        return 0
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
