"""Layers that reproduce PyTorch operations exactly, for checkpoints ported from PyTorch (Tiny AutoEncoders).

Each one exists because the obvious Keras layer differs from its PyTorch
counterpart in a way that shows in the numbers or in the exports:

* :class:`GroupNorm`: Keras' ``GroupNormalization`` defaults to epsilon 1e-3
  (PyTorch 1e-5), and TensorFlow's and onnxruntime's single-pass float32
  reductions over a whole feature map drift at high resolution (latent error
  2.5e-3 at 1024x1024). This one reduces in stages (rows, then columns, then
  the channels of a group) and takes the variance in a second pass.
* :class:`NearestUpsample`: ``UpSampling2D`` followed by a convolution makes the
  TFLite converter emit TensorFlow (Flex) ops for dynamic shapes, which the
  LiteRT runtime refuses; a broadcast and a reshape convert to builtin ops.
* :class:`SoftClamp`: ``tanh(x / limit) * limit``, the decoders' latent clamp.
* :class:`InferenceClip`: the decoders' output clamp to [0, 1], off in training (a clamp there
  would stop the gradient of every pixel outside the range).

PyTorch's stride-2 convolution with ``padding=1`` is not Keras' ``"same"`` on
even sizes (Keras pads only after); the builders pad explicitly with
``ZeroPadding2D`` and use ``"valid"``.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.utils.checks import check_positive_int


def _mean(x, axis: int):
    # sum / n, not ops.mean: Keras' mean computes float64 in float32 on JAX and PyTorch.
    return ops.sum(x, axis=axis, keepdims=True) / ops.cast(ops.shape(x)[axis], x.dtype)


def _staged_mean(x, groups: int):
    """Mean over height, width and each group's channels of ``x`` (batch, H, W, C), one axis at a time.

    Returns shape (batch, 1, 1, C): every channel holds its group's mean. Means
    of equal-sized means are exact, so staging changes only the rounding.
    """
    channels = x.shape[-1]
    m = _mean(_mean(x, 1), 2)
    m = ops.reshape(m, (-1, 1, 1, groups, channels // groups))
    m = _mean(m, -1)
    m = ops.broadcast_to(m, (ops.shape(m)[0], 1, 1, groups, channels // groups))
    return ops.reshape(m, (-1, 1, 1, channels))


@keras.saving.register_keras_serializable(package="aezoo")
class GroupNorm(keras.layers.Layer):
    """Group normalisation as ``torch.nn.GroupNorm`` (channels last), with staged two-pass statistics.

    Args:
        groups: Number of channel groups; must divide the channel count.
        epsilon: Added to the variance (PyTorch's default, 1e-5).
        **kwargs: Standard layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, groups: int, epsilon: float = 1e-5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.groups = check_positive_int("groups", groups)
        self.epsilon = float(epsilon)

    def build(self, input_shape) -> None:
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"GroupNorm needs a channel count divisible by groups={self.groups}. "
                             + f"Received: input_shape={tuple(input_shape)}")
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, x):
        centred = x - _staged_mean(x, self.groups)
        variance = _staged_mean(centred * centred, self.groups)
        return centred * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="aezoo")
class NearestUpsample(keras.layers.Layer):
    """Nearest-neighbour upsampling by an integer factor, as a broadcast and a reshape (builtin ops in TFLite).

    Args:
        factor: The scale of both spatial axes.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, factor: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor = check_positive_int("factor", factor)

    def call(self, x):
        f = self.factor
        shape = ops.shape(x)
        batch, height, width, channels = shape[0], shape[1], shape[2], x.shape[-1]
        x = ops.expand_dims(ops.expand_dims(x, 2), 4)
        x = ops.broadcast_to(x, (batch, height, f, width, f, channels))
        return ops.reshape(x, (batch, height * f, width * f, channels))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="aezoo")
class SoftClamp(keras.layers.Layer):
    """``tanh(x / limit) * limit``: smooth clamp of latents to (-limit, limit).

    Args:
        limit: The bound (3 for the Tiny AutoEncoders).
        **kwargs: Standard layer arguments.
    """

    def __init__(self, limit: float = 3.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, x):
        limit = ops.cast(self.limit, x.dtype)  # a Python float would make float64 float32 on JAX
        y = x / limit
        if keras.backend.standardize_dtype(x.dtype) == "float64":  # Keras' ops.tanh returns float32 for float64 on JAX; sigmoid keeps it
            return (2.0 * ops.sigmoid(2.0 * y) - 1.0) * limit
        return ops.tanh(y) * limit

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "limit": self.limit}


@keras.saving.register_keras_serializable(package="aezoo")
class InferenceClip(keras.layers.Layer):
    """Clip to ``[low, high]`` at inference; the identity in training, so clipped outputs still get gradients.

    Args:
        low: Lower bound.
        high: Upper bound.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, low: float = 0.0, high: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, x, training=None):
        return x if training else ops.clip(x, self.low, self.high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "low": self.low, "high": self.high}
