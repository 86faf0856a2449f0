"""Registered autoencoder recipes.

An autoencoder here is a backbone (dense | conv) × a code head (plain |
sparsity penalty | Gaussian posterior) × an optional input corruption, and a
model class that only changes where the objective changes (contractive, VAE).
:func:`assemble` composes the parts; each recipe below is a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.backbones import BACKBONES
from zoo.checks import (
    check_choice,
    check_input_shape,
    check_non_negative,
    check_positive_int,
)
from zoo.layers import CORRUPTIONS, ActivityPenalty, Corruption
from zoo.models import VAE, Autoencoder, ContractiveAutoencoder
from zoo.registry import register_model
from zoo.regularizers import KLSparsity, L1Activity

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
    code_activation: str = "linear",
    code_penalty: keras.regularizers.Regularizer | None = None,
    corruption: Corruption | None = None,
    output_activation: str = "sigmoid",
    reconstruction: str = "bce",
    model_cls: type[Autoencoder] = Autoencoder,
    **model_kwargs,
) -> Autoencoder:
    """Compose an autoencoder from a backbone, a code head and optional extras.

    Args:
        arch: ``"dense"`` or ``"conv"``.
        input_shape: Per-example shape without the batch axis.
        latent_dim: Size of the code.
        sizes: Hidden units (dense) or filters (conv), encoder order.
        name: Name of the model (the recipe's name).
        code_activation: Activation of the code layer.
        code_penalty: Optional regularizer applied to the code via
            :class:`zoo.layers.ActivityPenalty`.
        corruption: Optional training-only input corruption.
        output_activation: Activation of the decoder's output.
        reconstruction: ``"bce"`` or ``"mse"``.
        model_cls: :class:`Autoencoder` or a subclass; :class:`VAE` gets a
            Gaussian posterior head instead of a code layer.
        **model_kwargs: Extra arguments of ``model_cls`` (``beta``, ``contractive``...).

    Returns:
        The assembled, unbuilt-free (already built) model.
    """
    check_choice("arch", arch, tuple(BACKBONES))
    input_shape = check_input_shape(input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    trunk, make_decoder, sizes_arg = BACKBONES[arch]

    inputs = keras.Input(shape=input_shape, name="inputs")
    features = trunk(inputs, input_shape, sizes)
    decoder = make_decoder(latent_dim, input_shape, output_activation, sizes)
    if issubclass(model_cls, VAE):
        z_mean = layers.Dense(latent_dim, name="z_mean")(features)
        z_log_var = layers.Dense(latent_dim, name="z_log_var")(features)
        posterior = keras.Model(inputs, [z_mean, z_log_var], name="posterior")
        return model_cls(posterior, decoder, corruption=corruption,
                         reconstruction=reconstruction, name=name, **model_kwargs)
    code = layers.Dense(latent_dim, activation=code_activation, name="code")(features)
    if code_penalty is not None:
        code = ActivityPenalty(code_penalty, name="code_penalty")(code)
    encoder = keras.Model(inputs, code, name="encoder")
    return model_cls(encoder, decoder, corruption=corruption,
                     reconstruction=reconstruction, name=name, **model_kwargs)


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


def _kl_code_activation(code_activation: str) -> str:
    if code_activation != "sigmoid":
        raise ValueError(
            "KL sparsity compares mean activations with a target in (0, 1), so the code "
            + f"needs code_activation='sigmoid'. Received: code_activation={code_activation!r}"
        )
    return code_activation


# ---- undercomplete -----------------------------------------------------------
@register_model
def ae_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
             code_activation="linear") -> Autoencoder:
    """Undercomplete dense autoencoder."""
    return assemble("dense", input_shape, latent_dim, hidden_units,
                    code_activation=code_activation, name="ae_dense")


@register_model
def ae_conv(input_shape=MNIST_SHAPE, latent_dim=32, filters=CONV_FILTERS,
            code_activation="linear") -> Autoencoder:
    """Undercomplete convolutional autoencoder."""
    return assemble("conv", input_shape, latent_dim, filters,
                    code_activation=code_activation, name="ae_conv")


@register_model
def linear_dense(input_shape=MNIST_SHAPE, latent_dim=32) -> Autoencoder:
    """Linear autoencoder trained with MSE; on centred data it spans the PCA subspace."""
    return assemble("dense", input_shape, latent_dim, (), output_activation="linear",
                    reconstruction="mse", name="linear_dense")


# ---- sparse ------------------------------------------------------------------
@register_model
def sparse_l1_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                    l1=1e-3, code_activation="relu") -> Autoencoder:
    """Dense autoencoder with an L1 activity penalty on the code."""
    return assemble("dense", input_shape, latent_dim, hidden_units, code_activation=code_activation,
                    code_penalty=L1Activity(l1), name="sparse_l1_dense")


@register_model
def sparse_l1_conv(input_shape=MNIST_SHAPE, latent_dim=32, filters=CONV_FILTERS,
                   l1=1e-3, code_activation="relu") -> Autoencoder:
    """Convolutional autoencoder with an L1 activity penalty on the code."""
    return assemble("conv", input_shape, latent_dim, filters, code_activation=code_activation,
                    code_penalty=L1Activity(l1), name="sparse_l1_conv")


@register_model
def sparse_kl_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                    rho=0.05, beta=0.1, code_activation="sigmoid") -> Autoencoder:
    """Dense autoencoder with KL-divergence sparsity on a sigmoid code."""
    return assemble("dense", input_shape, latent_dim, hidden_units,
                    code_activation=_kl_code_activation(code_activation),
                    code_penalty=KLSparsity(rho, beta), name="sparse_kl_dense")


@register_model
def sparse_kl_conv(input_shape=MNIST_SHAPE, latent_dim=32, filters=CONV_FILTERS,
                   rho=0.05, beta=0.1, code_activation="sigmoid") -> Autoencoder:
    """Convolutional autoencoder with KL-divergence sparsity on a sigmoid code."""
    return assemble("conv", input_shape, latent_dim, filters,
                    code_activation=_kl_code_activation(code_activation),
                    code_penalty=KLSparsity(rho, beta), name="sparse_kl_conv")


# ---- denoising ---------------------------------------------------------------
@register_model
def denoising_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                    noise="gaussian", noise_level=0.4, seed=None) -> Autoencoder:
    """Dense denoising autoencoder; the input is corrupted in training only."""
    return assemble("dense", input_shape, latent_dim, hidden_units,
                    corruption=make_corruption(noise, noise_level, seed), name="denoising_dense")


@register_model
def denoising_conv(input_shape=MNIST_SHAPE, latent_dim=32, filters=CONV_FILTERS,
                   noise="gaussian", noise_level=0.4, seed=None) -> Autoencoder:
    """Convolutional denoising autoencoder; the input is corrupted in training only."""
    return assemble("conv", input_shape, latent_dim, filters,
                    corruption=make_corruption(noise, noise_level, seed), name="denoising_conv")


# ---- contractive -------------------------------------------------------------
@register_model
def contractive_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                      contractive=1e-4, code_activation="sigmoid") -> Autoencoder:
    """Dense contractive autoencoder (penalty on the encoder's Jacobian)."""
    return assemble("dense", input_shape, latent_dim, hidden_units, code_activation=code_activation,
                    model_cls=ContractiveAutoencoder, contractive=contractive,
                    name="contractive_dense")


# ---- variational -------------------------------------------------------------
@register_model
def vae_dense(input_shape=MNIST_SHAPE, latent_dim=16, hidden_units=DENSE_UNITS,
              beta=1.0, seed=None) -> Autoencoder:
    """Dense β-VAE with a Gaussian posterior."""
    return assemble("dense", input_shape, latent_dim, hidden_units, model_cls=VAE,
                    beta=beta, seed=seed, name="vae_dense")


@register_model
def vae_conv(input_shape=MNIST_SHAPE, latent_dim=16, filters=CONV_FILTERS,
             beta=1.0, seed=None) -> Autoencoder:
    """Convolutional β-VAE with a Gaussian posterior."""
    return assemble("conv", input_shape, latent_dim, filters, model_cls=VAE,
                    beta=beta, seed=seed, name="vae_conv")
