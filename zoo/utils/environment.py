"""What machine and software produced a result: the one record for cards, exports and benchmark rows.

The layout (every value JSON-ready; ``versions`` lists installed packages only)::

    {"python": "3.12.3", "keras_backend": "jax",
     "versions": {"aezoo": "0.1.0", "keras": "3.15.1", "jax": "0.11.2", "numpy": "2.5.2", ...},
     "machine": {"platform": "Linux-...", "processor": "x86_64", "cpu_model": "AMD EPYC ...",
                 "cpu_count": 16, "accelerators": ["NVIDIA H200"], "accelerator_memory_gb": [139.8]}}

Accelerators are asked of the Keras backend's own framework (JAX, PyTorch or
TensorFlow), so recording a JAX run never imports TensorFlow.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Packages whose versions are recorded when installed (distribution names).
PACKAGES = ("keras", "tensorflow", "jax", "torch", "onnxruntime", "ai-edge-litert", "numpy", "scikit-learn")


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None if it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_memory_gb() -> list[float]:
    """Total memory (GiB) of each NVIDIA GPU from ``nvidia-smi``, or an empty list."""
    try:
        query = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                               capture_output=True, text=True, timeout=10, check=True)
        return [round(float(v) / 1024, 1) for v in query.stdout.split()]
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def _backend_accelerators(backend: str) -> list[tuple[str, float | None]]:
    """``(name, memory GiB or None)`` of each accelerator the backend's framework sees."""
    if backend == "jax":
        import jax

        return [(d.device_kind, None) for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return []
        props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
        return [(p.name, round(p.total_memory / 2**30, 1)) for p in props]
    if backend == "tensorflow":
        import tensorflow as tf

        return [(tf.config.experimental.get_device_details(d).get("device_name", d.name), None)
                for d in tf.config.list_physical_devices("GPU")]
    return []


@functools.cache
def accelerators(backend: str | None = None) -> tuple[tuple[str, float | None], ...]:
    """Name and memory (GiB) of each accelerator, as the Keras backend (or ``backend``) sees them.

    Cached: the hardware does not change within a process, and asking a
    framework for its devices can start it up.

    Args:
        backend: ``"jax"``, ``"torch"`` or ``"tensorflow"``; default the Keras backend.

    Returns:
        One ``(name, memory_gb)`` pair per accelerator (memory None where unknown).
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    found = _backend_accelerators(backend)
    if found and any(memory is None for _, memory in found):
        totals = _nvidia_memory_gb()
        if len(totals) == len(found):
            found = [(name, memory or total) for (name, memory), total in zip(found, totals, strict=True)]
    return tuple(found)


def _aezoo_version() -> str:
    from zoo.version import __version__

    return __version__


def environment() -> dict:
    """Versions, Keras backend and machine of this process (the layout is in the module docstring).

    Returns:
        A new JSON-ready dict; cards, export metadata and benchmark rows all start from it.
    """
    import keras

    backend = keras.backend.backend()
    found = accelerators(backend)
    return {
        "python": sys.version.split()[0],
        "keras_backend": backend,
        "versions": {"aezoo": _aezoo_version(), **{p: v for p in PACKAGES if (v := package_version(p))}},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "accelerators": [name for name, _ in found],
            "accelerator_memory_gb": [memory for _, memory in found],
        },
    }
