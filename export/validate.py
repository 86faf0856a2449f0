"""Inputs for validating an export, and the comparisons that decide whether it passes."""

from __future__ import annotations

import numpy as np

from zoo.models import Autoencoder

#: float32 exports pass at this max abs error against Keras (Hugging Face exporters' default too).
DEFAULT_ATOL = 1e-5
#: Quantized exports pass if the sample's reconstruction MSE grows by at most this fraction.
DEFAULT_MSE_RTOL = {"float16": 0.01, "dynamic_int8": 0.05, "int8": 0.10, "int16x8": 0.10}
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
        raise ValueError(
            f"No bundled sample fits input shape {model.data_shape} (the samples are 28x28x1 images); "
            + f"pass {what} (and calibration_data, for quantize='int8' or 'int16x8') "
            + f"with shape (n, {', '.join(map(str, model.data_shape))})."
        )
    return x


def part_inputs(model: Autoencoder, part: str, images: np.ndarray) -> np.ndarray:
    """What ``part`` consumes for these images: the images, or the Keras encoder's codes."""
    if part == "decoder":
        return model.encoder.predict(images, batch_size=256, verbose=0)
    return images


def calibration_inputs(model: Autoencoder, part: str, data, default_images: np.ndarray) -> np.ndarray:
    """int8 calibration inputs for ``part``: images (or, for a decoder, codes or images to encode)."""
    if data is None:
        return part_inputs(model, part, default_images[:500])
    data = np.asarray(data)
    if part == "decoder" and data.shape[1:] == (model.latent_dim,):
        return data.astype(np.float32)
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
    diffs, problems, scale = [], [], 0.0
    for xb in batches(inputs, sizes):
        got, want = runner(xb), reference(xb)
        scale = max(scale, float(np.max(np.abs(want))))
        if got.shape != want.shape:
            problems.append(f"batch {len(xb)}: output shape {got.shape}, Keras gives {want.shape}")
            continue
        diffs.append(np.abs(got.astype(np.float64) - want).ravel())
    if not diffs:
        return float("inf"), float("inf"), scale, problems
    d = np.concatenate(diffs)
    if not np.isfinite(d).all():
        problems.append("non-finite outputs")
    return float(np.max(d)), float(np.mean(d)), scale, problems


def run_batched(fn, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``fn`` over ``x`` in batches of ``batch_size``, concatenated."""
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def reconstruction_mse(model: Autoencoder, part: str, runner, images: np.ndarray) -> tuple[float, float]:
    """Reconstruction MSE of the Keras model and of the model with the artifact in place of ``part``."""
    keras_rec = model.decoder.predict(model.encoder.predict(images, verbose=0), verbose=0)
    if part == "autoencoder":
        rec = run_batched(runner, images)
    elif part == "encoder":
        rec = model.decoder.predict(run_batched(runner, images), verbose=0)
    else:
        rec = run_batched(runner, model.encoder.predict(images, verbose=0))
    keras_mse = float(np.mean((keras_rec.astype(np.float64) - images) ** 2))
    export_mse = float(np.mean((rec.reshape(images.shape).astype(np.float64) - images) ** 2))
    return keras_mse, export_mse
