"""Undercomplete autoencoders: a code narrower than the input, nothing else (dense, conv, linear)."""

from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE, assemble
from zoo.models.autoencoder import Autoencoder
from zoo.models.registry import register_model


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
