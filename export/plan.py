"""What an export is checked on: images at each size, the inputs each part consumes, calibration data.

:func:`plan_export` turns a target, its settings and the user's data into a :class:`ValidationPlan`;
:mod:`export.validate` then runs the artifact on it and passes or fails it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from export.graph import IMAGES, model_parts, run_keras, tensor_dtype, tensor_shape
from export.registry import quantize_choices
from zoo.models.autoencoder import Autoencoder

if TYPE_CHECKING:
    from export.target import ExportSettings, ExportTarget


#: Batch sizes run through every artifact, in one session, to prove the batch axis is dynamic.
BATCH_SIZES = (1, 7, 64)
#: RGB models are checked on photographs at these (height, width) when their spatial size is dynamic.
PHOTO_SIZES = ((64, 64), (96, 128))
#: Batch sizes for RGB photographs. Fewer than for 28x28 digits: a 96x128 photo through a
#: convolutional image model (TAESD: about 1 GFLOP per image at this size) costs what some hundred
#: digits do, and two sizes prove the batch axis as well as three.
PHOTO_BATCH_SIZES = (1, 3)
#: Photo crops per size whose reconstruction MSE decides a quantized export.
PHOTO_MSE_IMAGES = 16
#: Photo crops (and their size, for models of dynamic size) that calibrate int8 by default.
PHOTO_CALIBRATION = (64, (64, 64))
#: Batch sizes whose latency the quantization report gives for photos (256 photos per call is not a phone's load).
PHOTO_LATENCY_BATCH_SIZES = (1, 4)


@dataclass
class ValidationPlan:
    """What an export is checked on.

    Attributes:
        sets: Image batches, one per resolution (all the same size within a batch).
        batch_sizes: Batch sizes run through the artifact at every resolution, in one session.
        description: What the images are, for the report.
        scaled_atol: The float32 bound is ``atol * max(1, S)`` per resolution, ``S`` the largest
            abs value of the Keras outputs there (outputs of any scale); else ``atol`` itself.
        calibration: Default calibration images (None: the first set's first 500).
        latency_batch_sizes: Batch sizes the quantization report times.
        calibration_inputs: What the part consumes, to calibrate a calibrated quantize option (else None).
        latency_inputs: What the part consumes, to time a quantized export (else None).
    """

    sets: list[np.ndarray]
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    description: str = ""
    scaled_atol: bool = False
    calibration: np.ndarray | None = None
    latency_batch_sizes: tuple[int, ...] = (1, 256)
    calibration_inputs: np.ndarray | None = None
    latency_inputs: np.ndarray | None = None

    @property
    def images(self) -> np.ndarray:
        """The first set: what needs one batch of images (latency inputs)."""
        return self.sets[0]


def is_rgb(model: Autoencoder) -> bool:
    """Whether ``model`` takes RGB images: those are checked on photographs, at two sizes if their size is dynamic."""
    shape = tuple(model.data_shape)
    return len(shape) == 3 and shape[-1] == 3


def photo_sizes(model: Autoencoder) -> list[tuple[int, int]]:
    """The (height, width) an RGB model is validated at: its own size, or :data:`PHOTO_SIZES` if dynamic."""
    h, w = tuple(model.data_shape)[:2]
    return [(int(h), int(w))] if h is not None and w is not None else list(PHOTO_SIZES)


def plan_for(model: Autoencoder, dataset: str, data=None) -> ValidationPlan:
    """How ``model``'s exports are validated.

    Grayscale models: the bundled sample of ``dataset`` (or ``data``) at :data:`BATCH_SIZES`,
    max abs error against ``atol``. RGB models: crops of real photographs
    (:mod:`zoo.data.photos`) at every size of :func:`photo_sizes`, at :data:`PHOTO_BATCH_SIZES`,
    bound ``atol * max(1, S)``; ``data`` may be one array or a list of arrays (one per size).
    """
    if not is_rgb(model):
        images = reference_images(model, dataset, data)
        return ValidationPlan([images], BATCH_SIZES, describe_inputs(data, dataset, images))
    from zoo.data.photos import CREDIT, photo_crops

    if data is not None:
        sets = [_as_images(d, model.data_shape, "validation_data")
                for d in (data if isinstance(data, (list, tuple)) else [data])]
        description = "validation_data (" + ", ".join(f"{len(x)} at {x.shape[1]}x{x.shape[2]}" for x in sets) + ")"
    else:
        n = max(PHOTO_MSE_IMAGES, sum(PHOTO_BATCH_SIZES))
        sets = [photo_crops(n, size, seed=i) for i, size in enumerate(photo_sizes(model))]
        description = f"{CREDIT}: {n} crops at " + " and ".join(f"{x.shape[1]}x{x.shape[2]}" for x in sets)
    count, size = PHOTO_CALIBRATION
    fixed = tuple(model.data_shape)[:2]
    calibration = photo_crops(count, fixed if None not in fixed else size, seed=100)
    return ValidationPlan(sets, PHOTO_BATCH_SIZES, description, scaled_atol=True, calibration=calibration,
                          latency_batch_sizes=PHOTO_LATENCY_BATCH_SIZES)


def sample_images(shape: tuple[int, ...], dataset: str = "mnist") -> np.ndarray | None:
    """The bundled 1k sample as float32 in [0, 1], adapted to ``shape`` where that makes sense.

    Images are resized (bilinear) and their channel repeated for other
    ``(height, width, channels)`` shapes; flat shapes of the same size are
    reshaped. Returns None when no sample fits ``shape``.
    """
    from zoo.data.datasets import DATASETS, load_sample, to_unit_range

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
    from zoo.data.datasets import to_unit_range
    from zoo.utils.checks import check_batch

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
    """What ``part`` consumes for these images: the images, or the Keras encoder's codes (or indices)."""
    return run_keras(model, images, IMAGES, model_parts(model)[part][0], batch_size=256)


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or int(s) == int(e) for s, e in zip(shape, expected,
                                                                                                 strict=True))


def calibration_inputs(model: Autoencoder, part: str, data, default_images: np.ndarray) -> np.ndarray:
    """int8 calibration inputs for ``part``: images (or, for a decoder, codes or images to encode)."""
    from export.quantization import check_calibration

    if data is None:
        return part_inputs(model, part, default_images[:500])
    data = check_calibration(np.asarray(data))
    in_name = model_parts(model)[part][0]
    wanted = tensor_shape(model, in_name)
    if wanted != tuple(model.data_shape) and _fits(data.shape[1:], wanted) \
            and not _fits(data.shape[1:], tuple(model.data_shape)):
        return data.astype(tensor_dtype(model, in_name))  # already what the part consumes (codes)
    return part_inputs(model, part, _as_images(data, model.data_shape, "calibration_data"))


def _detector_plan(model: Autoencoder, dataset: str, data=None) -> ValidationPlan:
    images = reference_images(model, dataset, data)
    return ValidationPlan([images], BATCH_SIZES, describe_inputs(data, dataset, images))


#: Target kind -> how its exports are validated: a part by :func:`plan_for`; a detector (float32 only)
#: on one set of reference images.
PLANS = {"part": plan_for, "detector": _detector_plan}


def plan_export(target: ExportTarget, settings: ExportSettings, data=None) -> ValidationPlan:
    """What an export of ``target`` is checked on, and for a quantized part, calibrated and timed on.

    Args:
        target: The resolved target (:func:`export.target.resolve_target`).
        settings: Its checked options (:func:`export.settings.resolve_settings`).
        data: ``validation_data`` as given to ``export_model``, or None for the bundled sample.
    """
    dataset = target.card.dataset if target.card is not None else "mnist"
    plan = PLANS[target.kind](target.model, dataset, data)
    fmt, quantize = settings.fmt, settings.quantize
    if quantize in fmt.calibrated:
        default = plan.calibration if plan.calibration is not None else plan.images
        plan.calibration_inputs = calibration_inputs(target.model, target.part, settings.calibration_data, default)
    if quantize is not None:
        plan.latency_inputs = (plan.calibration_inputs if plan.calibration_inputs is not None
                               else part_inputs(target.model, target.part, plan.images[:256]))
    return plan
