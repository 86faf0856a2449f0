"""Contractive autoencoders: a penalty on the Frobenius norm of the encoder's Jacobian."""

from zoo.models.assemble import DENSE_UNITS, MNIST_SHAPE, assemble
from zoo.models.autoencoder import Autoencoder, ContractiveAutoencoder
from zoo.models.registry import register_model


@register_model
def contractive_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                      contractive=1e-4, code_activation="sigmoid") -> Autoencoder:
    """Dense contractive autoencoder (penalty on the encoder's Jacobian)."""
    return assemble("dense", input_shape, latent_dim, hidden_units, code_activation=code_activation,
                    model_cls=ContractiveAutoencoder, contractive=contractive,
                    name="contractive_dense")
