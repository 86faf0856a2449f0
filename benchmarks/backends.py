"""What differs per Keras backend in a benchmark: choosing one, its device, arrays, memory, a compiled call.

``KERAS_BACKEND`` is fixed when Keras is first imported, so a run over several
backends gives each its own process (:mod:`benchmarks.workers`); this module
holds the one branch per backend that those processes need.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence

import numpy as np

#: The Keras backends a benchmark can run on.
BACKENDS = ("tensorflow", "jax", "torch")
#: What to install when a backend's package is missing.
INSTALL = {"tensorflow": "pip install tensorflow",
           "jax": "pip install 'jax[cpu]' (NVIDIA GPUs: pip install 'jax[cuda12]')",
           "torch": "pip install torch"}
#: Keras-side inference runtimes of each backend (exports stay TensorFlow-only).
INFERENCE_RUNTIMES = {"tensorflow": ("keras_function", "keras_xla"), "jax": ("jax_jit",),
                      "torch": ("torch_eager", "torch_compile")}


def active_backend() -> str:
    """The Keras backend of this process (importing Keras if needed)."""
    import keras

    return keras.backend.backend()


def check_backend(name: str) -> str:
    """``name`` if it is a backend whose package is installed, else a one-line error saying what to do.

    Raises:
        ValueError: ``name`` is not a Keras backend.
        ModuleNotFoundError: Its package is not installed (the message names the ``pip install``).
    """
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}; choose from {', '.join(BACKENDS)}.")
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"The {name} backend needs the {name} package, which is not installed: "
                                  + f"{INSTALL[name]}.")
    return name


def parse_backends(names: Sequence[str] | None) -> list[str]:
    """Checked, de-duplicated ``--backend`` values (default: this process's Keras backend)."""
    return [check_backend(n) for n in dict.fromkeys(names or [active_backend()])]


def worker_env(backend: str, device: str, threads: int | None = None) -> dict[str, str]:
    """Environment of a worker process running ``backend`` on ``device`` (``cpu`` hides every GPU).

    ``threads`` caps the CPU threads of every framework's kernels (OpenMP for PyTorch,
    TensorFlow's intra-op pool, XLA's CPU runtime), for fair runs on a shared CPU.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               XLA_PYTHON_CLIENT_PREALLOCATE="false")  # JAX would take 75% of the GPU from its neighbours
    if device == "cpu":
        env.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu", KERAS_TORCH_DEVICE="cpu")
    if threads:
        n = str(threads)
        env.update(AEZOO_BENCH_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, TF_NUM_INTRAOP_THREADS=n, TF_NUM_INTEROP_THREADS=n)
        if threads == 1:  # XLA's CPU runtime has a switch for one thread only
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    return env


def apply_threads(backend: str) -> int | None:
    """Cap this process' kernel threads at ``$AEZOO_BENCH_THREADS`` (set by :func:`worker_env`), before first use."""
    threads = int(os.environ.get("AEZOO_BENCH_THREADS") or 0) or None
    if threads and backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if threads and backend == "torch":
        import torch

        torch.set_num_threads(threads)
    return threads


def select_device(choice: str, backend: str | None = None) -> str:
    """Resolve ``auto|cpu|gpu`` through the backend's own framework (no TensorFlow unless it is the backend).

    Raises:
        RuntimeError: ``gpu`` was asked for and the backend sees none (one line).
    """
    from zoo.utils.environment import accelerators

    backend = backend or active_backend()
    if backend == "tensorflow" and choice == "cpu":
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")  # before first use, or TensorFlow keeps them
        return "cpu"
    found = accelerators(backend) if choice != "cpu" else ()
    if choice == "gpu" and not found:
        name = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[backend]
        raise RuntimeError(f"--device gpu was asked for, but {name} sees no GPU on this machine.")
    return "gpu" if found else "cpu"


def torch_device(device: str) -> str:
    """PyTorch's name of ``cpu``/``gpu``."""
    return "cuda" if device == "gpu" else "cpu"


def to_device(x: np.ndarray, backend: str, device: str):
    """``x`` as the backend's array, resident on ``device`` (TensorFlow takes numpy as it is)."""
    if backend == "jax":
        import jax

        return jax.device_put(x)
    if backend == "torch":
        import torch

        return torch.as_tensor(x, device=torch_device(device))
    return x


def resident_batches(x, batch_size: int, seed: int = 0):
    """A ``keras.utils.PyDataset`` of batches gathered on the device from ``x`` (a backend array), reshuffled each epoch.

    ``fit(jax_array)`` would copy the array back to the host (Keras slices JAX
    inputs as numpy) and send every batch again; this keeps the data on the device
    under JAX and PyTorch alike (``keras.ops.take`` with a permutation).
    """
    import keras

    class ResidentBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self) -> int:
            return -(-len(x) // batch_size)

        def __getitem__(self, i: int):
            return (keras.ops.take(x, self.order[i * batch_size:(i + 1) * batch_size], axis=0),)

        def on_epoch_end(self) -> None:
            self.order = keras.ops.convert_to_tensor(self.rng.permutation(len(x)).astype("int32"))

    return ResidentBatches()


def block(value, backend: str):
    """Wait until ``value`` (an output of the backend) is computed; return it."""
    if backend == "jax":
        import jax

        return jax.block_until_ready(value)
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return value
    return value.numpy() if hasattr(value, "numpy") else value


def reset_peak_memory(backend: str, device: str) -> None:
    """Start a new peak-memory window where the framework allows it (PyTorch; JAX's peak only grows)."""
    if device == "gpu" and backend == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_memory_gb(backend: str, device: str) -> float | None:
    """Peak device memory in GiB: PyTorch's since :func:`reset_peak_memory`, JAX's/TensorFlow's since start.

    On a CPU, the process' peak resident memory.
    """
    if device == "cpu":
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    if backend == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**30
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30


def keras_inference(graph, runtime: str, device: str) -> Callable:
    """A call ``x (backend array) -> output (computed)`` of Keras model ``graph`` through ``runtime``.

    ``jax_jit``: ``graph.stateless_call`` under ``jax.jit``, variables passed in;
    ``torch_eager``/``torch_compile``: the model under ``torch.inference_mode``,
    plain or through ``torch.compile``; ``keras_function``/``keras_xla``: a
    ``tf.function``, without or with XLA.
    """
    if runtime == "jax_jit":
        import jax

        trainable = [v.value for v in graph.trainable_variables]
        non_trainable = [v.value for v in graph.non_trainable_variables]
        fn = jax.jit(lambda tv, ntv, x: graph.stateless_call(tv, ntv, x, training=False)[0])
        return lambda x: jax.block_until_ready(fn(trainable, non_trainable, x))
    if runtime in ("torch_eager", "torch_compile"):
        import torch

        fn = torch.compile(graph) if runtime == "torch_compile" else graph

        def call(x):
            with torch.inference_mode():
                return block(fn(x, training=False), "torch")

        return call
    if runtime in ("keras_function", "keras_xla"):
        import tensorflow as tf

        spec = tf.TensorSpec((None, *graph.input_shape[1:]), tf.float32)
        fn = tf.function(lambda x: graph(x, training=False), input_signature=[spec],
                         jit_compile=runtime == "keras_xla")
        return lambda x: fn(x).numpy()
    raise ValueError(f"Unknown Keras runtime {runtime!r}; choose from "
                     + ", ".join(r for rs in INFERENCE_RUNTIMES.values() for r in rs) + ".")
