"""What a worker (:mod:`benchmarks.workers`) does: set up, probe, build cells, time one round of a cell.

A cell is one configuration, built and warmed up once, that times one more
round per :meth:`run` call: a training epoch (seconds per step) or a slice of
inference calls (seconds per call). Four kinds, by spec ``kind``:

* ``keras_train``: aezoo's training path on this process' Keras backend
  (``benchmarks.trainer.Trainer``);
* ``peer_train``: the plain PyTorch loop (``benchmarks.peers.loops.PeerTrainer``);
* ``keras_infer``: a Keras part through a compiled call of the backend
  (``benchmarks.backends.keras_inference``) or, under TensorFlow, an export;
* ``peer_infer``: the peer's encoder or autoencoder, eager or compiled.

Each request a worker answers is an ``op_*`` function registered in :data:`OPS`
under the request's name (``@OPS.register("build")``); replies are JSON-ready.
"""

from __future__ import annotations

import gc
import sys
from functools import lru_cache

import numpy as np

from benchmarks import backends
from benchmarks.common import is_out_of_memory
from benchmarks.protocol import Requests

#: Request name -> the function answering it, ``fn(state, **request) -> reply`` (``benchmarks.workers``).
OPS = Requests()


@OPS.register("setup")
def op_setup(state: dict, device: str) -> dict:
    """Resolve the device through this backend and record the environment; ``{"device", "env"}``."""
    from benchmarks.common import row_environment

    backends.apply_threads(state["backend"])
    state.update(device=backends.select_device(device, state["backend"]), cells={}, next_id=0)
    state["env"] = row_environment()
    return {"device": state["device"], "env": state["env"]}


@OPS.register("probe")
def op_probe(state: dict, precisions: list[str], sizes: list[int], copy_mb: int, min_seconds: float) -> dict:
    """Matmul peak and copy bandwidth measurements through this backend (``benchmarks.probes.probe``)."""
    from benchmarks.probes import probe

    return {"measurements": probe(state["backend"], state["device"], precisions, sizes, copy_mb, min_seconds)}


@lru_cache(maxsize=4)
def _images(dataset: str, samples: int) -> tuple[np.ndarray, str]:
    """``samples`` uint8 training images, tiled to size, and where they came from.

    The dataset's train split where its file is found, else the bundled 1k MNIST
    sample (a machine that carries no data still trains on MNIST-shaped digits).
    """
    from benchmarks.trainer import load_images
    from zoo.data.datasets import load_sample

    try:
        x, source = load_images(dataset), dataset + ("" if dataset.startswith("sample:") else " train split")
    except (FileNotFoundError, OSError, ValueError):
        x, source = load_sample("mnist")[0], "bundled 1k MNIST sample"
    return np.resize(x, (samples, *x.shape[1:])), f"{source}, tiled to {samples} samples"


def _keras_model(spec: dict):
    """The spec's model: a pretrained entry, or a registered one with seeded random weights and ``kwargs``."""
    from benchmarks.runners import load_model

    return load_model(spec["model"], spec.get("seed", 0), spec.get("kwargs"))


class TrainCell:
    """A trainer (Keras or peer) and its row fields; :meth:`run` trains one epoch."""

    def __init__(self, trainer, meta: dict):
        self.trainer, self.meta = trainer, meta

    def run(self, min_seconds: float) -> list[float]:
        return [self.trainer.epoch() / self.trainer.steps]


class InferCell:
    """A call on one resident batch and its row fields; :meth:`run` times calls for ``min_seconds``."""

    def __init__(self, call, x, meta: dict):
        from zoo.utils.timing import time_calls

        self.call, self.x, self.meta = call, x, meta
        self.warmup_times = time_calls(lambda: call(x), warmup=3, min_iters=1, max_iters=3, min_seconds=0)

    def run(self, min_seconds: float) -> list[float]:
        from zoo.utils.timing import time_calls

        return time_calls(lambda: self.call(self.x), warmup=1, min_seconds=min_seconds)


def _train_cell(state: dict, spec: dict, batch_size: int) -> TrainCell:
    from benchmarks.flops import part_bytes, training_flops

    x_u8, source = _images(spec.get("dataset", "mnist"), spec["samples"])
    model = _keras_model(spec)  # the peers count FLOPs and bytes on the Keras twin
    flops, nbytes = training_flops(model), part_bytes(model, "autoencoder", batch_size, training=True)
    meta = {"model": spec["model"], "part": "autoencoder", "precision": spec.get("precision", "float32"),
            "batch_size": batch_size, "flops_per_sample": flops, "bytes_per_sample": nbytes}
    if spec["kind"] == "peer_train":
        from benchmarks.peers.loops import PeerTrainer
        from zoo.data import datasets as zdata

        trainer = PeerTrainer(spec["model"], zdata.to_unit_range(x_u8), batch_size,
                              backends.torch_device(state["device"]), compiled=spec["compiled"],
                              precision=meta["precision"], model_kwargs=spec.get("kwargs"),
                              reuse=state.setdefault("peer_modules", {}))
        meta.update(runtime="pytorch compile" if spec["compiled"] else "pytorch eager", config="peer",
                    xla=None, steps_per_execution=1, backend="torch")
    else:
        from benchmarks.trainer import Trainer

        del model
        trainer = Trainer(spec["model"], spec.get("kwargs", {}), x_u8, batch_size, baseline=spec.get("baseline", False),
                          precision=meta["precision"], xla=spec.get("xla"), steps_per_execution=spec.get("spe"),
                          device=state["device"])
        meta.update(runtime="keras fit", config=spec.get("config", "aezoo_default"), backend=state["backend"],
                    xla=trainer.options.get("jit_compile", "keras default"),
                    steps_per_execution=trainer.options.get("steps_per_execution", 1))
    meta["note"] = f"{source}, resident on the {state['device']}; warm-up epoch {trainer.warmup:.1f} s"
    return TrainCell(trainer, meta)


def _infer_cell(state: dict, spec: dict, batch_size: int) -> InferCell:
    from benchmarks.flops import part_bytes, part_flops

    model = state.setdefault("models", {}).get(spec["model"]) or _keras_model(spec)
    state["models"][spec["model"]] = model
    part, device = spec["part"], state["device"]
    calls = state.setdefault("calls", {})
    x = _batch(model.data_shape, batch_size)
    meta = {"model": spec["model"], "part": part, "precision": "float32", "batch_size": batch_size,
            "flops_per_sample": part_flops(model, part), "bytes_per_sample": part_bytes(model, part, batch_size)}
    if spec["kind"] == "peer_infer":
        from benchmarks.peers.loops import inference_call, to_nchw
        from benchmarks.peers.models import build_peer, copy_keras_weights, peer_kwargs

        key = (spec["model"], part, spec["compiled"])
        if key not in calls:  # one compiled call for every batch size (a dynamic batch dimension)
            peer = copy_keras_weights(build_peer(spec["model"].split(".")[0], **peer_kwargs(model)), model)
            calls[key] = inference_call(peer, part, backends.torch_device(device), compiled=spec["compiled"])
        call = calls[key]
        meta.update(runtime="pytorch compile" if spec["compiled"] else "pytorch eager", backend="torch",
                    config="peer", xla=None)
        return InferCell(call, backends.to_device(to_nchw(x), "torch", device), meta)
    runtime = spec["runtime"]
    meta.update(runtime=runtime, backend=state["backend"], config=None, xla=runtime in ("keras_xla", "jax_jit"))
    if runtime in backends.INFERENCE_RUNTIMES[state["backend"]]:
        key = (spec["model"], part, runtime)
        if key not in calls:
            calls[key] = backends.keras_inference(model.get_part(part), runtime, device)
        return InferCell(calls[key], backends.to_device(x, state["backend"], device), meta)
    from pathlib import Path

    from benchmarks.runners import runners

    fn, runs_on, precision, note = runners(model, part, [runtime], device, Path(state["workdir"]) / spec["model"])[runtime]
    meta.update(device=runs_on, precision=precision, note=note or None)
    return InferCell(fn, x, meta)


def _batch(shape: tuple, n: int) -> np.ndarray:
    """``n`` images shaped ``shape``: the bundled MNIST sample tiled where it fits, else seeded noise."""
    from zoo.data.datasets import load_sample, to_unit_range

    x = to_unit_range(load_sample("mnist")[0])
    if x.shape[1:] != tuple(shape):
        x = np.random.default_rng(0).random((min(n, 1024), *shape), dtype=np.float32)
    return np.resize(x, (n, *shape))


def _build(state: dict, spec: dict) -> tuple[object, list[str]]:
    """A cell for ``spec``, halving its batch size after each out-of-memory error."""
    size, notes = spec["batch_size"], []
    make = _train_cell if spec["kind"].endswith("_train") else _infer_cell
    while True:
        try:
            return make(state, spec, size), notes
        except Exception as err:
            if not is_out_of_memory(err) or size == 1:
                raise
            notes.append(f"out of memory at batch {size}")
            size //= 2
            _free()


@OPS.register("build")
def op_build(state: dict, specs: list[dict]) -> dict:
    """Build and warm up a cell per spec; ``{"cells": [{"id", "meta"}]}`` (meta: the row fields).

    A spec that fails to build comes back as ``{"id": None, "failed": message, "spec": spec}``.
    """
    if "workdir" not in state:
        import tempfile

        state["workdir"] = tempfile.mkdtemp(prefix="aezoo-bench-")
    out = []
    for spec in specs:
        try:
            cell, notes = _build(state, spec)
        except Exception as err:  # noqa: BLE001 - one failed configuration must not end the run
            import traceback

            traceback.print_exc()
            out.append({"id": None, "failed": f"{type(err).__name__}: {err}".splitlines()[0], "spec": spec})
            continue
        cell.meta.update(requested_batch_size=spec["batch_size"], device=cell.meta.get("device", state["device"]))
        if notes:
            cell.meta["note"] = "; ".join([*notes, cell.meta.get("note") or ""]).strip("; ")
        state["next_id"] += 1
        state["cells"][state["next_id"]] = cell
        out.append({"id": state["next_id"], "meta": cell.meta})
    return {"cells": out}


@OPS.register("run")
def op_run(state: dict, cell: int, min_seconds: float = 0.3) -> dict:
    """Time one round of ``cell``; ``{"times": seconds per step or call, "peak_memory_gb"}``."""
    backends.reset_peak_memory(state["backend"], state["device"])
    times = state["cells"][cell].run(min_seconds)
    return {"times": times, "peak_memory_gb": backends.peak_memory_gb(state["backend"], state["device"])}


def _free() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


@OPS.register("drop")
def op_drop(state: dict, cells: list[int]) -> dict:
    """Forget ``cells`` and give their memory back (models and compiled calls stay for other batch sizes)."""
    for cell in cells:
        state["cells"].pop(cell, None)
    _free()
    return {"ok": True}
