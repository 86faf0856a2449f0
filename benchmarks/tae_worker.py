"""The Tiny AutoEncoder benchmark's worker side: one process per runtime, answering the owner's requests.

Each runtime of :data:`RUNTIMES` runs in its own worker process
(``python -m benchmarks.tae_worker KIND``): Keras picks its backend at import,
and one process per runtime makes its peak resident memory its own. The
onnxruntime and LiteRT workers load only their runtime: nothing here imports
Keras, ``zoo`` or a framework until a request needs it. Requests
(:mod:`benchmarks.protocol`) set the worker up, probe the machine, write or
export weights, build a cell (a call on one resident input, checked against
the reference's output), time it and drop it; ``benchmarks.tae_run`` owns the run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.protocol import Requests, serve

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
#: The benchmarked pretrained entry and its architecture.
MODEL = "tae.flux2"
ARCH = {"latent_dim": 32, "midblock_gn": True}
CHECKPOINTS = {"encoder": "taef2_encoder.pth", "decoder": "taef2_decoder.pth"}
PARTS = ("encoder", "decoder")
#: Request name -> the :class:`Worker` method answering it.
OPS = Requests()


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
    """The worker side: one runtime kind, its models and cells; its ``op_*`` methods answer the requests in :data:`OPS`."""

    def __init__(self, kind: str) -> None:
        self.kind, self.cells, self.models, self.calls, self.next_id = kind, {}, {}, {}, 0
        self.device, self.threads, self.weights, self.checkpoints, self.workdir = "cpu", None, "pretrained", None, None

    @OPS.register("setup")
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

    @OPS.register("probe")
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

    @OPS.register("weights")
    def op_weights(self) -> dict:
        """Write the Keras model's weights in the PyTorch layout (``weights_{part}.npz``) for the reference."""
        from zoo.pretrained.convert import stored_state_dict

        model = self._keras()
        for part, network in (("encoder", model.encoder_network), ("decoder", model.decoder)):
            np.savez(self.workdir / f"weights_{part}.npz", **stored_state_dict(network))
        return {"ok": True}

    @OPS.register("count")
    def op_count(self, size: int, batch: int) -> dict:
        """FLOPs and bytes per image of each part at ``size`` (a fixed-size build's layers, random weights)."""
        import zoo
        from benchmarks.flops import part_bytes, part_flops

        model = zoo.create_model("tae", input_shape=(size, size, 3), **ARCH)
        return {part: {"flops": part_flops(model, part), "bytes": part_bytes(model, part, batch)} for part in PARTS}

    @OPS.register("export")
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

    @OPS.register("build")
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

    @OPS.register("run")
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

    @OPS.register("drop")
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


def main(argv: list[str] | None = None) -> int:
    """The worker process of one runtime kind: ``python -m benchmarks.tae_worker KIND``."""
    argv = sys.argv[1:] if argv is None else argv
    kinds = sorted({kind for kind, _ in RUNTIMES.values()})
    if len(argv) != 1 or argv[0] not in kinds:
        print(f"python -m benchmarks.tae_worker: error: expected one runtime kind ({', '.join(kinds)}). "
              + f"Received: {argv}", file=sys.stderr)
        return 2
    worker = Worker(argv[0])
    serve(lambda request: OPS.answer(request, worker))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
