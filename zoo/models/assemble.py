"""Compose an autoencoder from parts: a backbone, a code head, an optional corruption, a model class.

Family recipes (``zoo/families/``) are a few lines each on top of :func:`assemble`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from zoo.models.autoencoder import Autoencoder
from zoo.models.backbones import BACKBONES
from zoo.models.heads import CodeHead
from zoo.models.layers import CORRUPTIONS, Corruption
from zoo.utils.checks import check_choice, check_input_shape, check_non_negative, check_positive_int

#: Defaults shared by the recipes: MNIST-shaped inputs and the two backbones' sizes.
MNIST_SHAPE = (28, 28, 1)
DENSE_UNITS = (512, 256)
CONV_FILTERS = (32, 64)


def assemble(
    arch: str,
    input_shape: Sequence[int],
    latent_dim: int,
    sizes: Sequence[int],
    *,
    name: str,
    head: CodeHead | None = None,
    code_activation: str = "linear",
    corruption: Corruption | None = None,
    output_activation: str = "sigmoid",
    reconstruction: str = "bce",
    model_cls: type[Autoencoder] = Autoencoder,
    **model_kwargs,
) -> Autoencoder:
    """Compose an autoencoder from a backbone, a code head and optional extras.

    Args:
        arch: ``"dense"`` or ``"conv"`` (see :data:`zoo.models.backbones.BACKBONES`).
        input_shape: Per-example shape without the batch axis.
        latent_dim: Size of the code.
        sizes: Hidden units (dense) or filters (conv), encoder order.
        name: Name of the model (the recipe's name).
        head: The code head (default: the plain :class:`zoo.models.heads.CodeHead`); it
            also builds the encoder's last layer(s).
        code_activation: Activation of the code layer (heads that have one).
        corruption: Optional training-only input corruption.
        output_activation: Activation of the decoder's output.
        reconstruction: ``"bce"`` or ``"mse"``.
        model_cls: :class:`Autoencoder` or a subclass whose objective differs.
        **model_kwargs: Extra arguments of ``model_cls`` (``beta``, ``contractive``...).

    Returns:
        The assembled (already built) model.
    """
    check_choice("arch", arch, tuple(BACKBONES))
    input_shape = check_input_shape(input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    trunk, make_decoder = BACKBONES[arch]
    head = CodeHead(name="code_head") if head is None else head
    size = int(np.prod(input_shape))
    if latent_dim >= size and type(head) is CodeHead and corruption is None and model_cls is Autoencoder:
        # Nothing but the bottleneck keeps a plain autoencoder from copying its input.
        raise ValueError(
            f"`latent_dim` must be smaller than the {size} values of an input for {name}: a plain autoencoder "
            + "with a code as wide as its input can learn the identity. For an overcomplete code use a sparse, "
            + f"denoising, contractive or variational family. Received: latent_dim={latent_dim}, "
            + f"input_shape={input_shape}")

    inputs = keras.Input(shape=input_shape, name="inputs")
    features = trunk(inputs, input_shape, sizes)
    encoder = keras.Model(inputs, head.encoder_outputs(features, latent_dim, code_activation),
                          name=head.network_name)
    decoder = make_decoder(latent_dim, input_shape, output_activation, sizes)
    return model_cls(encoder, decoder, head=head, corruption=corruption, reconstruction=reconstruction,
                     name=name, **model_kwargs)


def make_corruption(noise: str, noise_level: float, seed: int | None) -> Corruption:
    """The corruption layer named ``noise`` at strength ``noise_level``.

    ``noise_level`` is the standard deviation for ``"gaussian"`` (clipped to
    [0, 1]) and the corrupted fraction for ``"masking"`` and ``"salt_and_pepper"``.
    """
    check_choice("noise", noise, tuple(CORRUPTIONS))
    level = check_non_negative("noise_level", noise_level)
    if noise == "gaussian":
        return CORRUPTIONS[noise](stddev=level, clip=True, seed=seed, name="corruption")
    return CORRUPTIONS[noise](rate=level, seed=seed, name="corruption")
