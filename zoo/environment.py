"""What machine and software produced a result, recorded with every card and benchmark row."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None if it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _aezoo_version() -> str:
    from zoo import __version__

    return __version__


def _accelerators() -> list[str]:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    try:
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    except ImportError:
        return []


def environment() -> dict:
    """Versions, backend and machine, as a flat JSON-ready dict."""
    import keras

    packages = ("aezoo", "keras", "tensorflow", "jax", "numpy", "scikit-learn")
    return {
        "python": sys.version.split()[0],
        "keras_backend": keras.backend.backend(),
        "versions": {"aezoo": _aezoo_version(), **{p: v for p in packages[1:] if (v := package_version(p))}},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "accelerators": _accelerators(),
        },
    }
