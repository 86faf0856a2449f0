"""Input corruptions of denoising autoencoders (code heads, penalties and sampling are in :mod:`zoo.models.heads`).

Corruption layers change their input only when called with ``training=True``;
at inference they are the identity, so exported models stay deterministic.
A corruption also reports the denoising metrics of the model it belongs to.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.models import backend, metrics
from zoo.models.heads import ActivityPenalty, GaussianSampling  # noqa: F401  (their former home; old imports work)
from zoo.utils.checks import check_non_negative, check_unit_interval


class Corruption(keras.layers.Layer):
    """Base class of the input corruptions used by denoising autoencoders.

    Subclasses implement :meth:`corrupt`; :meth:`call` applies it only in
    training. ``layer(x, training=True)`` gives a corrupted copy outside a
    model too, which evaluation uses to score denoising at the trained noise.

    Args:
        seed: Seed of the layer's random generator.
        **kwargs: Standard layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = backend.ReplicaSeedGenerator(seed)
        self.supports_masking = True

    def corrupt(self, inputs):
        raise NotImplementedError

    def seeded_copy(self, x: np.ndarray, seed: int = 0, batch_size: int = 512) -> np.ndarray:
        """``x`` corrupted as in training by a fresh copy of this layer seeded with ``seed``."""
        twin = type(self).from_config({**self.get_config(), "seed": seed})
        return np.concatenate([np.asarray(twin(x[i:i + batch_size], training=True))
                               for i in range(0, len(x), batch_size)])

    def evaluation_metrics(self, model, x: np.ndarray, codes: np.ndarray, *, seed: int = 0,
                           batch_size: int = 512) -> dict:
        """Denoising metrics of ``model`` on clean test data ``x``."""
        return metrics.denoising_metrics(model, x, seed, batch_size)

    def summarize(self, card_metrics: dict) -> str:
        """One line for tables, from evaluation metrics."""
        if "denoise_bce" not in card_metrics:
            return ""
        return f"denoise BCE {card_metrics['denoise_bce']:.4f}, PSNR +{card_metrics['psnr_gain']:.1f} dB"

    def call(self, inputs, training=None):
        if training:
            return self.corrupt(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="aezoo")
class AdditiveGaussianNoise(Corruption):
    """Adds N(0, stddev²) noise, optionally clipped back to [0, 1].

    Args:
        stddev: Standard deviation of the noise, >= 0.
        clip: Clip the noisy input to [0, 1] (right for pixel intensities).
    """

    def __init__(self, stddev: float = 0.5, clip: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stddev = check_non_negative("stddev", stddev)
        self.clip = bool(clip)

    def corrupt(self, inputs):
        noise = keras.random.normal(
            ops.shape(inputs), stddev=self.stddev, dtype=inputs.dtype, seed=self.seed_generator
        )
        noisy = inputs + noise
        return ops.clip(noisy, 0.0, 1.0) if self.clip else noisy

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "clip": self.clip}


@keras.saving.register_keras_serializable(package="aezoo")
class MaskingNoise(Corruption):
    """Sets each input element to zero with probability ``rate`` (no rescaling).

    Unlike dropout the survivors are not scaled up: the model must infer the
    missing values, as in Vincent et al. (2008).

    Args:
        rate: Fraction of elements zeroed, in [0, 1).
    """

    def __init__(self, rate: float = 0.3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = check_unit_interval("rate", rate)

    def corrupt(self, inputs):
        u = keras.random.uniform(ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator)
        return ops.where(u < self.rate, ops.zeros_like(inputs), inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="aezoo")
class SaltAndPepperNoise(Corruption):
    """Sets a fraction ``rate`` of elements to ``low`` or ``high`` with equal odds.

    Args:
        rate: Fraction of elements replaced, in [0, 1).
        low: Value of "pepper" elements.
        high: Value of "salt" elements.
    """

    def __init__(self, rate: float = 0.2, low: float = 0.0, high: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = check_unit_interval("rate", rate)
        if not low < high:
            raise ValueError(f"`low` must be below `high`. Received: low={low!r}, high={high!r}")
        self.low = float(low)
        self.high = float(high)

    def corrupt(self, inputs):
        u = keras.random.uniform(ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator)
        half = self.rate / 2.0
        salt = ops.full_like(inputs, self.high)
        pepper = ops.full_like(inputs, self.low)
        return ops.where(u < half, pepper, ops.where(u < self.rate, salt, inputs))

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "low": self.low, "high": self.high}


CORRUPTIONS: dict[str, type[Corruption]] = {
    "gaussian": AdditiveGaussianNoise,
    "masking": MaskingNoise,
    "salt_and_pepper": SaltAndPepperNoise,
}
