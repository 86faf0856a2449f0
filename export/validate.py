"""Inputs for validating an export, and the comparisons that decide whether it passes."""

from __future__ import annotations

import warnings

import numpy as np

from export.graph import PARTS, PIPELINE, run_keras, tensor_shape
from export.registry import quantize_choices
from zoo.models import Autoencoder

#: float32 exports pass at this max abs error against Keras (Hugging Face exporters' default too).
DEFAULT_ATOL = 1e-5
#: Batch sizes run through every artifact, in one session, to prove the batch axis is dynamic.
BATCH_SIZES = (1, 7, 64)


def sample_images(shape: tuple[int, ...], dataset: str = "mnist") -> np.ndarray | None:
    """The bundled 1k sample as float32 in [0, 1], adapted to ``shape`` where that makes sense.

    Images are resized (bilinear) and their channel repeated for other
    ``(height, width, channels)`` shapes; flat shapes of the same size are
    reshaped. Returns None when no sample fits ``shape``.
    """
    from zoo.data import DATASETS, load_sample, to_unit_range

    x = to_unit_range(load_sample(dataset if dataset in DATASETS else "mnist")[0])
    shape = tuple(shape)
    if shape == x.shape[1:]:
        return x
    if int(np.prod(shape)) == int(np.prod(x.shape[1:])):
        return x.reshape((-1, *shape))
    if len(shape) == 3:
        import tensorflow as tf

        resized = tf.image.resize(x, shape[:2], method="bilinear", antialias=True).numpy()
        return np.clip(np.repeat(resized, shape[2], axis=-1), 0.0, 1.0).astype(np.float32)
    return None


def _as_images(data, expected: tuple[int, ...], what: str) -> np.ndarray:
    from zoo.checks import check_batch
    from zoo.data import to_unit_range

    x = to_unit_range(np.asarray(data))
    check_batch(x, expected, what)
    return x


def reference_images(model: Autoencoder, dataset: str, data=None, what: str = "validation_data") -> np.ndarray:
    """Images to validate on: ``data`` if given, else the bundled sample adapted to the model."""
    if data is not None:
        return _as_images(data, model.data_shape, what)
    x = sample_images(model.data_shape, dataset)
    if x is None:
        calibrated = " or ".join(map(repr, quantize_choices(calibrated_only=True)))
        raise ValueError(
            f"No bundled sample fits input shape {model.data_shape} (the samples are 28x28x1 images); "
            + f"pass {what} (and calibration_data, for quantize={calibrated}) "
            + f"with shape (n, {', '.join(map(str, model.data_shape))})."
        )
    return x


def describe_inputs(data, dataset: str, images: np.ndarray) -> str:
    """What an export was validated on, for its report."""
    return "validation_data" if data is not None else f"bundled {dataset} sample ({len(images)} images)"


def part_inputs(model: Autoencoder, part: str, images: np.ndarray) -> np.ndarray:
    """What ``part`` consumes for these images: the images, or the Keras encoder's codes."""
    return run_keras(model, images, PIPELINE[0], PARTS[part][0], batch_size=256)


def calibration_inputs(model: Autoencoder, part: str, data, default_images: np.ndarray) -> np.ndarray:
    """int8 calibration inputs for ``part``: images (or, for a decoder, codes or images to encode)."""
    from export.quantization import check_calibration

    if data is None:
        return part_inputs(model, part, default_images[:500])
    data = check_calibration(np.asarray(data))
    if data.shape[1:] == tensor_shape(model, PARTS[part][0]) != tuple(model.data_shape):
        return data.astype(np.float32)  # already what the part consumes (codes)
    return part_inputs(model, part, _as_images(data, model.data_shape, "calibration_data"))


def batches(inputs: np.ndarray, sizes=BATCH_SIZES) -> list[np.ndarray]:
    """Consecutive, distinct slices of ``inputs`` of the given sizes (wrapping around if short)."""
    out, start = [], 0
    for size in sizes:
        out.append(inputs[np.arange(start, start + size) % len(inputs)])
        start += size
    return out


def compare(runner, reference, inputs: np.ndarray, sizes=BATCH_SIZES) -> tuple[float, float, float, list[str]]:
    """Max and mean abs difference of ``runner`` and ``reference`` over batches of ``sizes``.

    Also returns the largest abs value of the reference, which puts the errors in scale.
    """
    errors, problems = compare_outputs(lambda x: {"": runner(x)}, lambda x: {"": reference(x)}, inputs, sizes)
    return (*errors[""], problems)


def compare_outputs(runner, reference, inputs: np.ndarray,
                    sizes=BATCH_SIZES) -> tuple[dict[str, tuple[float, float, float]], list[str]]:
    """:func:`compare` for artifacts with named outputs: ``runner`` and ``reference`` return dicts of arrays.

    Returns:
        Output name -> (max abs error, mean abs error, largest abs reference value),
        for every output ``reference`` gives; and the problems found (a missing
        output, a wrong shape, non-finite values).
    """
    diffs: dict[str, list[np.ndarray]] = {}
    scales: dict[str, float] = {}
    problems: list[str] = []
    for xb in batches(inputs, sizes):
        got, want = runner(xb), reference(xb)
        for name, w in want.items():
            w = np.asarray(w)
            label = f"{name} " if name else ""
            scales[name] = max(scales.get(name, 0.0), float(np.max(np.abs(w))))
            diffs.setdefault(name, [])
            if name not in got:
                problems.append(f"batch {len(xb)}: no output {name!r} (the artifact gives {sorted(got)})")
            elif got[name].shape != w.shape:
                problems.append(f"batch {len(xb)}: {label}output shape {got[name].shape}, Keras gives {w.shape}")
            else:
                diffs[name].append(np.abs(got[name].astype(np.float64) - w).ravel())
    errors = {}
    for name, found in diffs.items():
        if not found:
            errors[name] = (float("inf"), float("inf"), scales[name])
            continue
        d = np.concatenate(found)
        if not np.isfinite(d).all():
            problems.append(f"non-finite {name or 'outputs'}")
        errors[name] = (float(np.max(d)), float(np.mean(d)), scales[name])
    return errors, problems


def run_batched(fn, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``fn`` over ``x`` in batches of ``batch_size``, concatenated."""
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def reconstruction_mse(model: Autoencoder, part: str, runner, images: np.ndarray) -> tuple[float, float]:
    """Reconstruction MSE of the Keras model and of the model with the artifact in place of ``part``."""
    first, last = PIPELINE[0], PIPELINE[-1]
    in_name, out_name = PARTS[part]
    keras_rec = run_keras(model, images, first, last)
    outputs = run_batched(runner, run_keras(model, images, first, in_name))
    rec = run_keras(model, outputs, out_name, last)
    keras_mse = float(np.mean((keras_rec.astype(np.float64) - images) ** 2))
    export_mse = float(np.mean((rec.reshape(images.shape).astype(np.float64) - images) ** 2))
    return keras_mse, export_mse


def __getattr__(name: str):
    if name == "DEFAULT_MSE_RTOL":
        warnings.warn("export.validate.DEFAULT_MSE_RTOL is deprecated: the tolerances are declared by each "
                      + "format; use export.default_mse_rtol(format, quantize) or "
                      + "export.get_format(format).quantize_options.", DeprecationWarning, stacklevel=2)
        from export.registry import FORMATS

        return {q: opt.mse_rtol for fmt in reversed(FORMATS.values()) for q, opt in fmt.quantize_options.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
