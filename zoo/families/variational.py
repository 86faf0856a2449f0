"""Variational autoencoders: a Gaussian posterior head and the β-weighted ELBO."""

from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE, assemble
from zoo.models.autoencoder import VAE, Autoencoder
from zoo.models.heads import GaussianSampling
from zoo.models.registry import register_model


@register_model
def vae_dense(input_shape=MNIST_SHAPE, latent_dim=16, hidden_units=DENSE_UNITS,
              beta=1.0, seed=None) -> Autoencoder:
    """Dense β-VAE with a Gaussian posterior."""
    return assemble("dense", input_shape, latent_dim, hidden_units, model_cls=VAE,
                    head=GaussianSampling(beta=beta, seed=seed, name="sampling"), name="vae_dense")


@register_model
def vae_conv(input_shape=MNIST_SHAPE, latent_dim=16, filters=CONV_FILTERS,
             beta=1.0, seed=None) -> Autoencoder:
    """Convolutional β-VAE with a Gaussian posterior."""
    return assemble("conv", input_shape, latent_dim, filters, model_cls=VAE,
                    head=GaussianSampling(beta=beta, seed=seed, name="sampling"), name="vae_conv")
