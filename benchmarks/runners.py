"""The runtimes an inference benchmark times: Keras' own calls and every export of the format registry.

:func:`runners` turns a model part into one numpy callable per runtime: Keras
``predict``, the Keras graph in a compiled ``tf.function`` (with or without
XLA), or an export made by ``export.export_model`` and loaded with
``export.load_artifact``. ``benchmarks.inference_throughput`` and the workers'
inference cells (``benchmarks.cells``) time them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from zoo import Autoencoder

#: Runtimes that run the Keras model itself (every other runtime is an export).
KERAS_RUNTIMES = ("keras_predict", "keras_function", "keras_xla")
#: The export registry's runtime variants before ``export.runtime_variants()`` existed.
_FALLBACK_VARIANTS = (("saved_model", "saved_model", None), ("onnxruntime", "onnx", None),
                      ("litert", "tflite", None), ("litert_int8", "tflite", "int8"))


def exported_runtimes() -> dict[str, tuple[str, str | None]]:
    """Runtime label -> ``(export format, quantize)`` for every runtime variant of the export registry."""
    import export

    variants = getattr(export, "runtime_variants", None)
    listed = variants() if variants else [v for v in _FALLBACK_VARIANTS if v[1] in export.FORMATS]
    return {label: (fmt, quantize) for label, fmt, quantize in listed}


def runtimes() -> tuple[str, ...]:
    """Every runtime the benchmark can time: the Keras ones, then the export registry's variants."""
    return KERAS_RUNTIMES + tuple(exported_runtimes())


def load_model(name: str, seed: int = 0, kwargs: dict | None = None) -> Autoencoder:
    """A pretrained entry (by its name), or a registered model with random weights drawn from ``seed``.

    Args:
        name: A pretrained entry or a registered model name.
        seed: Seed of a registered model's initial weights.
        kwargs: A registered model's builder arguments.

    Returns:
        The model.
    """
    import zoo

    if name in zoo.list_pretrained():
        return zoo.load_pretrained(name)
    import keras

    keras.utils.set_random_seed(seed)
    return zoo.create_model(name, **(kwargs or {}))


def keras_runner(model: Autoencoder, part: str, runtime: str) -> Callable[[np.ndarray], object]:
    """A numpy callable for ``part`` through Keras: ``predict``, a ``tf.function``, or one with XLA."""
    import tensorflow as tf

    graph = model.get_part(part)
    if runtime == "keras_predict":
        return lambda x: graph.predict(x, batch_size=len(x), verbose=0)
    spec = tf.TensorSpec((None, *graph.input_shape[1:]), tf.float32)
    fn = tf.function(lambda x: graph(x, training=False), input_signature=[spec], jit_compile=runtime == "keras_xla")
    return lambda x: fn(x).numpy()


def export_bound(fmt: str, quantize: str) -> float:
    """The export registry's default bound on reconstruction-MSE growth of a quantized variant."""
    import export

    bound = getattr(export, "default_mse_rtol", None)
    if bound is not None:
        return bound(fmt, quantize)
    from export.validate import DEFAULT_MSE_RTOL  # before the formats declared their own bounds

    return DEFAULT_MSE_RTOL[quantize]


def runner_device(runner, device: str) -> str:
    """Where a loaded export runs, from the runtime it reports: TensorFlow's on ``device``, the others on the CPU.

    Our onnxruntime and LiteRT builds are CPU ones; an onnxruntime with CUDA first counts as the GPU.
    """
    if runner.runtime.startswith("tensorflow"):
        return device
    return "gpu" if "CUDAExecutionProvider" in runner.runtime else "cpu"


def runners(model: Autoencoder, part: str, names: Sequence[str], device: str,
            workdir: Path) -> dict[str, tuple[Callable, str, str, str]]:
    """runtime -> (callable, device it runs on, precision, note).

    Exports are validated as usual, except that a quantized export is timed
    even when it misses its accuracy bound: its note gives the reconstruction change.
    """
    from export import export_model, load_artifact

    exported = exported_runtimes()
    out = {}
    for runtime in names:
        if runtime not in exported:
            out[runtime] = (keras_runner(model, part, runtime), device, "float32", "")
            continue
        fmt, quantize = exported[runtime]
        folder = workdir / f"{part}.{runtime}"
        report = export_model(model, fmt, folder, part=part, quantize=quantize, mse_rtol=1e9 if quantize else None)
        note = ""
        if quantize:
            bound = export_bound(fmt, quantize)
            note = (f"reconstruction MSE {100 * report.mse_delta_rel:+.1f}% vs Keras"
                    + ("" if report.mse_delta_rel <= bound else f" (beyond the {100 * bound:g}% export bound)"))
        runner = load_artifact(folder)
        out[runtime] = (runner, runner_device(runner, device), quantize or "float32", note)
    return out


def weight_bytes(model: Autoencoder, part: str, precision: str) -> int:
    """Bytes of ``part``'s weights as a runtime of ``precision`` stores them (int8: one per weight)."""
    return model.get_part(part).count_params() * (1 if "int8" in precision else 4)
