"""Tiny AutoEncoders (TAESD family; Ollin Boer Bohan, github.com/madebyollin/taesd, MIT licence).

Small convolutional autoencoders distilled from the VAEs of latent-diffusion
models: their latents live in the teacher's latent space, so they encode and
decode (live previews, cheap round trips) for TAESD (SD 1.x/2.x, 4 channels),
TAESDXL (4), TAESD3 (16), TAEF1 (16), TAEF2 (FLUX.2, 32, a GroupNorm mid-block)
and TAESana (Sana DC-AE, 32 channels, 32x down).

Conventions (those of the original):
    * images are RGB, channels last, float in [0, 1]; height and width divide by
      the down factor (8, or 32 for ``tae_f32``), any size otherwise;
    * latents are raw: roughly within +-3 (the decoder soft-clamps them with
      ``tanh(z / 3) * 3``); :func:`scale_latents` maps them to [0, 1] for 8-bit
      PNGs and :func:`unscale_latents` back;
    * the decoder's output is clamped to [0, 1] at inference (``clamp_output=False`` gives the raw
      output); training sees the unclamped output, as the original was trained.

The architecture is written once as data (:func:`encoder_spec`, :func:`decoder_spec`),
from which the Keras graph is built here and the PyTorch parameter names are
derived by the converter (``zoo.pretrained.convert``): every layer with weights is named
after the PyTorch module it reproduces, dots written as dashes (``"encoder-4-conv-0"`` is
``encoder[4].conv[0]``; the PyTorch backend forbids dots in names).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from zoo.data.images import scale_pixels
from zoo.models.autoencoder import Autoencoder
from zoo.models.ported import GroupNorm, InferenceClip, NearestUpsample, SoftClamp
from zoo.models.registry import register_model
from zoo.utils.checks import check_choice, check_positive_int
from zoo.utils.inputs import as_model_input

#: ``tanh(z / 3) * 3`` bound of the latents, and the offset used to store them as [0, 1] images.
LATENT_MAGNITUDE = 3.0
LATENT_SHIFT = 0.5
#: Down factors offered: 8 (TAESD, TAESDXL, TAESD3, TAEF1, TAEF2) and 32 (TAESana).
DOWN_FACTORS = (8, 32)

# An op is ("conv", out_channels, stride, bias), ("relu",), ("block", channels, midblock_gn),
# ("up",) or ("clamp",); its index in the list is its index in PyTorch's nn.Sequential.


def encoder_spec(latent_channels: int, down: int = 8, midblock_gn: bool = False) -> list[tuple]:
    """The encoder's ops in order (the PyTorch ``nn.Sequential``)."""
    stages = [("conv", 64, 2, False), ("block", 64, False), ("block", 64, False), ("block", 64, False)]
    if down == 8:
        ops = [("conv", 64, 1, True), ("block", 64, False), *stages, *stages,
               ("conv", 64, 2, False), *[("block", 64, midblock_gn)] * 3]
    else:
        ops = [("conv", 32, 2, True), ("relu",), ("conv", 64, 2, True), ("relu",), ("block", 64, False),
               *stages, *stages, *stages]
    return [*ops, ("conv", latent_channels, 1, True)]


def decoder_spec(latent_channels: int, down: int = 8, midblock_gn: bool = False) -> list[tuple]:
    """The decoder's ops in order (the PyTorch ``nn.Sequential``), ending with the RGB convolution."""
    if down == 8:
        widths, gn = [64, 64, 64, 64], [midblock_gn, False, False]
    else:
        widths, gn = [256, 128, 64, 64, 64, 64], [False] * 5
    ops = [("clamp",), ("conv", widths[0], 1, True), ("relu",)]
    for i, (width, norm) in enumerate(zip(widths[:-1], gn, strict=True)):
        ops += [*[("block", width, norm)] * 3, ("up",), ("conv", widths[i + 1], 1, False)]
    return [*ops, ("block", widths[-1], False), ("conv", 3, 1, True)]


def _conv(x, filters: int, kernel: int, stride: int, bias: bool, name: str, dtype):
    if stride == 1:
        return keras.layers.Conv2D(filters, kernel, padding="same", use_bias=bias, name=name, dtype=dtype)(x)
    # PyTorch pads 1 on every side; Keras' "same" would pad only after on even sizes.
    x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}-pad", dtype=dtype)(x)
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=bias, name=name,
                               dtype=dtype)(x)


def _block(x, channels: int, midblock_gn: bool, name: str, dtype):
    """Residual block: three 3x3 convolutions beside a 1x1 skip, optionally after a GroupNorm pooling branch."""
    if midblock_gn:
        hidden = channels * 4
        p = keras.layers.Conv2D(hidden, 1, use_bias=False, name=f"{name}-pool-0", dtype=dtype)(x)
        p = GroupNorm(4, name=f"{name}-pool-1", dtype=dtype)(p)
        p = keras.layers.ReLU(name=f"{name}-pool-2", dtype=dtype)(p)
        p = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}-pool-3", dtype=dtype)(p)
        x = keras.layers.Add(name=f"{name}-pool_add", dtype=dtype)([x, p])
    y = _conv(x, channels, 3, 1, True, f"{name}-conv-0", dtype)
    y = keras.layers.ReLU(name=f"{name}-conv-1", dtype=dtype)(y)
    y = _conv(y, channels, 3, 1, True, f"{name}-conv-2", dtype)
    y = keras.layers.ReLU(name=f"{name}-conv-3", dtype=dtype)(y)
    y = _conv(y, channels, 3, 1, True, f"{name}-conv-4", dtype)
    skip = x
    if x.shape[-1] != channels:
        skip = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}-skip", dtype=dtype)(x)
    y = keras.layers.Add(name=f"{name}-add", dtype=dtype)([y, skip])
    return keras.layers.ReLU(name=f"{name}-fuse", dtype=dtype)(y)


def build_network(spec: Sequence[tuple], input_shape: Sequence[int | None], prefix: str, dtype=None,
                  clamp_output: bool = False) -> keras.Model:
    """A functional ``keras.Model`` of ``spec`` on inputs ``(batch, *input_shape)`` (sizes may be None)."""
    inputs = keras.Input(shape=tuple(input_shape), name="inputs", dtype=dtype)
    x = inputs
    for index, op in enumerate(spec):
        name = f"{prefix}-{index}"
        kind = op[0]
        if kind == "conv":
            x = _conv(x, op[1], 3, op[2], op[3], name, dtype)
        elif kind == "block":
            x = _block(x, op[1], op[2], name, dtype)
        elif kind == "relu":
            x = keras.layers.ReLU(name=name, dtype=dtype)(x)
        elif kind == "up":
            x = NearestUpsample(2, name=name, dtype=dtype)(x)
        elif kind == "clamp":
            x = SoftClamp(LATENT_MAGNITUDE, name=name, dtype=dtype)(x)
        else:  # pragma: no cover - the specs above are the only callers
            raise ValueError(f"Unknown op {op!r}")
    if clamp_output:
        x = InferenceClip(0.0, 1.0, name=f"{prefix}-clamp_output", dtype=dtype)(x)
    return keras.Model(inputs, x, name=prefix)


@keras.saving.register_keras_serializable(package="aezoo")
class TinyAutoencoder(Autoencoder):
    """A Tiny AutoEncoder: RGB images of any size divisible by ``down`` <-> latents ``(H/down, W/down, C)``.

    ``encode``/``decode``/``get_part`` as every :class:`zoo.Autoencoder`; inputs
    are float images in [0, 1] (uint8 is scaled by 1/255) and must have sides
    divisible by :attr:`down`. Training uses the MSE reconstruction error.

    Args:
        encoder: Images -> latents (see :func:`build_network`).
        decoder: Latents -> images.
        down: Spatial down factor of the encoder (8 or 32).
        **kwargs: Passed to :class:`zoo.Autoencoder`.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, down: int = 8, **kwargs) -> None:
        kwargs.setdefault("reconstruction", "mse")
        self.down = int(check_choice("down", down, DOWN_FACTORS))
        super().__init__(encoder, decoder, **kwargs)

    @property
    def latent_dim(self) -> int:
        """Latent channels (the latent map is ``(H / down, W / down, latent_dim)``)."""
        return int(self.code_shape[-1])

    @property
    def input_range(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def prepare_input(self, x, what: str = "input"):
        x = as_model_input(x, self.data_shape, what=what, value_range=self.input_range)
        check_divisible(tuple(x.shape[1:3]), self.down, what)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "down": self.down}


def check_divisible(size: Sequence[int], down: int, what: str = "input") -> None:
    """Refuse a (height, width) that ``down`` does not divide, naming the nearest sizes that work."""
    if any(s is not None and int(s) % down for s in size):
        h, w = (int(s) for s in size)
        lower = (max(down, h // down * down), max(down, w // down * down))
        upper = (-(-h // down) * down, -(-w // down) * down)
        raise ValueError(
            f"{what}: height and width must be multiples of {down}. Received: {h}x{w}; crop to "
            + f"{lower[0]}x{lower[1]} or pad to {upper[0]}x{upper[1]} (zoo.families.tae.pad_to_multiple).")


def pad_to_multiple(images: np.ndarray, down: int, mode: str = "edge") -> tuple[np.ndarray, tuple[int, int]]:
    """Pad ``images`` (batch, H, W, C) at the bottom and right to multiples of ``down``.

    Returns:
        The padded images and the original ``(H, W)``, to crop the decoded images back.
    """
    images = np.asarray(images)
    h, w = images.shape[1:3]
    pad = ((0, 0), (0, -h % down), (0, -w % down), (0, 0))
    return np.pad(images, pad, mode=mode), (h, w)


def scale_latents(z):
    """Raw latents -> [0, 1] (``z / 6 + 0.5``, clipped), as the original stores them in 8-bit PNGs."""
    return np.clip(np.asarray(z) / (2 * LATENT_MAGNITUDE) + LATENT_SHIFT, 0.0, 1.0)


def unscale_latents(x):
    """[0, 1] (or uint8 0..255) latent images -> raw latents; the inverse of :func:`scale_latents`."""
    x = np.asarray(x)
    x = scale_pixels(x) if x.dtype == np.uint8 else x  # float64 latents stay float64
    return (x - LATENT_SHIFT) * (2 * LATENT_MAGNITUDE)


def _tae(input_shape, latent_channels: int, down: int, midblock_gn: bool, clamp_output: bool, dtype,
         name: str) -> TinyAutoencoder:
    shape = tuple(None if s is None else int(s) for s in input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError("Tiny AutoEncoders take RGB images (height, width, 3); height and width may be None. "
                         + f"Received: input_shape={tuple(input_shape)}")
    check_divisible(shape[:2], down, "input_shape")
    latent_channels = check_positive_int("latent_dim", latent_channels)
    latent_shape = (*(None if s is None else s // down for s in shape[:2]), latent_channels)
    enc = build_network(encoder_spec(latent_channels, down, bool(midblock_gn)), shape, "encoder", dtype)
    dec = build_network(decoder_spec(latent_channels, down, bool(midblock_gn)), latent_shape, "decoder", dtype,
                        clamp_output=clamp_output)
    return TinyAutoencoder(enc, dec, down=down, name=name)


@register_model
def tae(input_shape=(None, None, 3), latent_dim=4, midblock_gn=False, clamp_output=True,
        dtype=None) -> TinyAutoencoder:
    """Tiny AutoEncoder, 8x down (TAESD 4 ch, TAESDXL 4, TAESD3 16, TAEF1 16; TAEF2 32 with ``midblock_gn``).

    Args:
        input_shape: ``(None, None, 3)``: any size divisible by 8 (fixed sizes also work).
        latent_dim: Latent channels.
        midblock_gn: The GroupNorm pooling branch of the innermost blocks (TAEF2).
        clamp_output: Clamp decoded images to [0, 1].
        dtype: Layer dtype policy, e.g. ``"float64"`` for parity checks.
    """
    return _tae(input_shape, latent_dim, 8, midblock_gn, clamp_output, dtype, "tae")


@register_model
def tae_f32(input_shape=(None, None, 3), latent_dim=32, clamp_output=True, dtype=None) -> TinyAutoencoder:
    """Tiny AutoEncoder, 32x down (TAESana, for Sana's DC-AE latents).

    Args:
        input_shape: ``(None, None, 3)``: any size divisible by 32.
        latent_dim: Latent channels.
        clamp_output: Clamp decoded images to [0, 1].
        dtype: Layer dtype policy.
    """
    return _tae(input_shape, latent_dim, 32, False, clamp_output, dtype, "tae_f32")
