"""Layers that autoencoder recipes compose: input corruptions, code penalties, sampling.

Corruption layers change their input only when called with ``training=True``;
at inference they are the identity, so exported models stay deterministic.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.checks import check_non_negative, check_unit_interval
from zoo.losses import gaussian_kl


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
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def corrupt(self, inputs):
        raise NotImplementedError

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


@keras.saving.register_keras_serializable(package="aezoo")
class ActivityPenalty(keras.layers.Layer):
    """Identity layer that adds ``regularizer(inputs)`` to the model's losses.

    Args:
        regularizer: A callable penalty such as :class:`zoo.regularizers.KLSparsity`.
    """

    def __init__(self, regularizer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.regularizer = keras.regularizers.get(regularizer)

    def call(self, inputs):
        self.add_loss(self.regularizer(inputs))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "regularizer": keras.regularizers.serialize(self.regularizer),
        }


@keras.saving.register_keras_serializable(package="aezoo")
class GaussianSampling(keras.layers.Layer):
    """Reparameterized sample ``z = mean + exp(log_var / 2) * eps`` and its KL term.

    Adds ``beta * KL(q(z|x) || N(0, I))`` (summed over latent units, averaged
    over the batch) to the model's losses. Samples only in training; at
    inference it returns the mean, so the model's call is deterministic.

    Args:
        beta: Weight β >= 0 of the KL term (β = 1 is the plain VAE).
        seed: Seed of the sampling noise.
    """

    def __init__(self, beta: float = 1.0, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.beta = check_non_negative("beta", beta)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        self.add_loss(self.beta * ops.mean(gaussian_kl(z_mean, z_log_var)))
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}
