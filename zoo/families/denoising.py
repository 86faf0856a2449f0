"""Denoising autoencoders: the input is corrupted in training only, the target stays clean."""

from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE, assemble, make_corruption
from zoo.models.autoencoder import Autoencoder
from zoo.models.registry import register_model


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
